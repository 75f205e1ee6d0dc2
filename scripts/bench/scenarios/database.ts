/**
 * Scenario 4 — the database at scale: builds a run of 100,000 programs through ProgramDatabase
 * as the engine writes them (insert as pending with its LLM call in one transaction, then
 * commit the score), then measures resume and sampling in a fresh process (databaseResume.ts),
 * so memory and caches are those of a resumed run.
 *
 * The store + commit rate is measured on the first 5,000 programs, each write its own
 * transaction as in the engine; the rest go in batches of 2,000 per outer transaction (the same
 * statements, without a WAL commit each), which keeps the build to seconds.
 *
 * For work on resume or sampling, `EVOLVE_BENCH_DB=FILE` keeps the built database in FILE and,
 * when FILE already exists, reuses it instead of building (the store figures are then absent).
 */
import { spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { SqlClient } from "@effect/sql"
import { Effect, Random } from "effect"
import Sqlite from "better-sqlite3"
import * as ProgramDatabase from "../../../src/db/ProgramDatabase.js"
import { makeProgramId, makeRunId, type ProgramId, type RunId } from "../../../src/domain/Ids.js"
import type { Program } from "../../../src/domain/Program.js"
import { RunConfig } from "../../../src/domain/RunConfig.js"
import { scenarioModule } from "../paths.js"
import { atMost, figure, log, runScenario } from "../protocol.js"
import { round } from "../stats.js"
import type { ResumeReport } from "./databaseResume.js"
import { allStores } from "../../../test/support/database.js"

/** About 1.5 KB of code per program, each unique. */
const codeFor = (i: number) =>
  [
    `export const benchVariant = ${i}`,
    ...Array.from({ length: 24 }, (_, line) => `export const constant${line} = ${(i * 31 + line) % 9973} // tuned parameter ${line}`),
    "export function search(f, bounds, budget, rng) {",
    "  return [bounds[0][0] + rng(), bounds[1][0] + rng()]",
    "}"
  ].join("\n")

const program = (runId: RunId, id: ProgramId, parentId: ProgramId | null, i: number, at: number): Program => ({
  id,
  runId,
  parentId,
  island: i % 4,
  generation: Math.floor(Math.log2(i + 1)),
  code: codeFor(i),
  codeHash: `hash-${i}`,
  patch: parentId === null ? null : `<<<<<<< SEARCH\nexport const benchVariant = 0\n=======\nexport const benchVariant = ${i}\n>>>>>>> REPLACE`,
  status: "pending",
  metrics: null,
  score: null,
  failure: null,
  feedback: null,
  createdAt: at,
  evaluatedAt: null,
  evalMs: null,
  llm: parentId === null ? null : { model: "fake-model", inputTokens: 900, outputTokens: 80, usd: 0, latencyMs: 1000, attempts: 1 }
})

const BATCH = 2000

/** The database with its SqlClient (the store uses it for batching). */
const databaseLayer = (filename: string) => ProgramDatabase.layer(filename)

/** Writes `count` scored programs; returns the run id and the store + commit rate. */
const build = (file: string, count: number, measuredCount: number) =>
  Effect.gen(function*() {
    const db = yield* allStores
    const sql = yield* SqlClient.SqlClient
    const runId = yield* makeRunId
    const spec = { programPath: "/bench/program.js", evaluatorPath: "/bench/evaluator.sh", config: RunConfig.make({}) }
    yield* db.createRun(runId, spec, Date.now())
    const root = yield* makeProgramId
    const store = (i: number) =>
      Effect.gen(function*() {
        const id = i === 0 ? root : yield* makeProgramId
        const at = Date.now()
        const p = program(runId, id, i === 0 ? null : root, i, at)
        yield* db.insertProgram(
          p,
          p.llm === null ? undefined : {
            id: `${id}.llm`,
            runId,
            purpose: "proposal",
            programId: id,
            model: "fake-model",
            inputTokens: 900,
            outputTokens: 80,
            usd: 0,
            latencyMs: 1000,
            attempts: 1,
            outcome: "ok",
            errorKind: null,
            errorMessage: null,
            createdAt: at
          }
        )
        const score = yield* Random.next
        const outcome = { _tag: "Scored", metrics: { combined_score: score, runtime_s: 0.1 }, score, feedback: null, durationMs: 100 } as const
        yield* db.commitEvaluation(id, outcome, at)
      })
    const measured = Math.min(count, measuredCount)
    const started = performance.now()
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < measured; i++) yield* store(i)
    const cpu = process.cpuUsage(cpu0)
    const perSecond = (measured * 1000) / (performance.now() - started)
    const cpuMsPerProgram = (cpu.user + cpu.system) / 1000 / measured
    for (let from = measured; from < count; from += BATCH) {
      const to = Math.min(count, from + BATCH)
      yield* sql.withTransaction(Effect.forEach(Array.from({ length: to - from }, (_, k) => from + k), store, { discard: true }))
    }
    return { runId, perSecond, cpuMsPerProgram, measured, buildS: (performance.now() - started) / 1000 }
  }).pipe(Effect.provide(databaseLayer(file)), Effect.runPromise)

const fileSize = (file: string) =>
  ["", "-wal", "-shm"].reduce((total, suffix) => {
    try {
      return total + statSync(file + suffix).size
    } catch {
      return total
    }
  }, 0)

const resumeInFreshProcess = (file: string, runId: string, samples: number): Promise<ResumeReport> =>
  new Promise((resolve, reject) => {
    const out = `${file}.resume.json`
    const child = spawn(
      process.execPath,
      [scenarioModule("databaseResume"), "--db", file, "--run", runId, "--samples", String(samples), "--out", out],
      { stdio: ["ignore", "inherit", "inherit"] }
    )
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(readFileSync(out, "utf8")) as ResumeReport) : reject(new Error(`databaseResume exited with ${code}`))
    )
  })

runScenario(async ({ quick }) => {
  const count = quick ? 3000 : 100_000
  const measuredCount = quick ? 1000 : 5000
  const samples = quick ? 500 : 20_000
  const dir = mkdtempSync(join(tmpdir(), "evolve-bench-db-"))
  const file = join(dir, "run.db")
  const kept = process.env["EVOLVE_BENCH_DB"]
  try {
    let built: { buildS: number; cpuMsPerProgram: number; measured: number; perSecond: number; runId: string }
    if (kept !== undefined && existsSync(kept)) {
      log(`database: reusing ${kept} (EVOLVE_BENCH_DB)`)
      copyFileSync(kept, file)
      const db = new Sqlite(file, { readonly: true })
      const row = db.prepare("SELECT id FROM runs ORDER BY created_at LIMIT 1").get() as { id: string }
      db.close()
      built = { buildS: 0, cpuMsPerProgram: Number.NaN, measured: 0, perSecond: Number.NaN, runId: row.id }
    } else {
      log(`database: storing and committing ${count} programs (rate over the first ${measuredCount})`)
      built = await build(file, count, measuredCount)
      if (kept !== undefined) {
        const db = new Sqlite(file)
        db.pragma("wal_checkpoint(TRUNCATE)")
        db.close()
        copyFileSync(file, kept)
      }
    }
    const { buildS, cpuMsPerProgram, measured, perSecond, runId } = built
    const bytes = fileSize(file)
    log(`  ${round(perSecond, 0)} programs/s, ${round(bytes / 1e6, 1)} MB; resuming in a fresh process`)
    const resume = await resumeInFreshProcess(file, runId, samples)
    log(`  resume ${resume.resumeMs} ms, sampling p99 ${resume.sampling.p99} ms`)
    const n = `${count / 1000}k`
    return {
      scenario: "database",
      title: "Database at scale",
      quick,
      figures: [
        figure("database.insertRate", `store + commit rate, one transaction each (first ${measured} programs)`, round(perSecond, 0), "programs/s"),
        figure("database.storeCpu", "CPU per store + commit (the engine's two writes per candidate)", round(cpuMsPerProgram, 3), "ms"),
        figure("database.samplingP50", `parent + inspiration sampling and reading p50 (${n} programs)`, resume.sampling.p50, "ms"),
        figure("database.samplingP99", `parent + inspiration sampling and reading p99 (${n} programs)`, resume.sampling.p99, "ms", atMost(1)),
        figure("database.samplingCpuP99", `the same in CPU time, p99 (preemption by other processes taken out)`, resume.samplingCpu.p99, "ms"),
        figure("database.perProgramReadsP99", `the same read one getProgram per program, uncached (before ParentPicker), p99`, resume.perProgramReads.p99, "ms"),
        figure("database.resume", `resume: open, load run and search state, build Population (${n} programs)`, round(resume.resumeMs / 1000, 3), "s", atMost(2)),
        figure("database.rss", `RSS after resuming ${n} programs`, resume.rssAfterMb, "MB", atMost(300)),
        figure("database.fileSize", `database file size (${n} programs, ~1.5 KB of code each)`, round(bytes / 1e6, 1), "MB")
      ],
      details: { programs: count, buildS: round(buildS, 1), bytes, resume }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
