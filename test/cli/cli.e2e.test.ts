import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ProgramDatabase from "../../src/db/ProgramDatabase.js"
import { WorkerStore } from "../../src/db/WorkerStore.js"
import { cliPath, runCli as runCliWith } from "../support/cli.js"
import { type FakeOpenAiServer, startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"

// End to end through the bundled CLI.
const example = resolve("examples/function_minimization")
const apiKey = "sk-e2e-secret-1234567890"

const workspace = () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-e2e-"))
  cpSync(example, dir, { recursive: true })
  // A wrapper evaluator that logs a hash of every candidate it is asked to evaluate.
  writeFileSync(
    join(dir, "counting_evaluator.mjs"),
    `import { appendFileSync, readFileSync } from "node:fs"
import { createHash } from "node:crypto"
const code = readFileSync(process.argv[2], "utf8")
appendFileSync(${JSON.stringify(join(dir, "evaluated.log"))}, createHash("sha256").update(code).digest("hex") + "\\n")
await import("./evaluator.mjs")
`
  )
  return dir
}

/** The CLI with this file's API key in its environment (the fake server checks it). */
const runCli = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  runCliWith(args, cwd, { OPENAI_API_KEY: apiKey, ...env })

const query = <T>(db: string, sql: string): Array<T> => {
  const conn = new Database(db, { readonly: true })
  try {
    return conn.prepare(sql).all() as Array<T>
  } finally {
    conn.close()
  }
}

describe("evolve CLI end to end", () => {
  let server: FakeOpenAiServer
  beforeAll(async () => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
    server = await startFakeOpenAiServer({ latency: { meanMs: 30, jitterMs: 10 }, seed: 7, requireApiKey: apiKey })
  })
  afterAll(() => server.close())

  it("runs against an OpenAI-compatible server, stores every candidate and improves the score", async () => {
    const dir = workspace()
    const db = join(dir, "run.db")
    const result = await runCli(
      [
        "run", "initial_program.mjs", "counting_evaluator.mjs", "--config", "evolve.yaml",
        "--provider", "openai-chat", "--base-url", server.url, "--model", "fake-coder",
        "--iterations", "24", "--parallel", "4", "--db", db
      ],
      dir
    )
    expect(result.stderr).not.toContain("internal error")
    expect(result.status, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/completed \(max_evaluations\)/)
    expect(server.requests.length).toBeGreaterThanOrEqual(23)
    expect(server.requests[0]!.headers["authorization"]).toBe(`Bearer ${apiKey}`)

    const counts = query<{ status: string; n: number }>(db, "SELECT status, COUNT(*) AS n FROM programs GROUP BY status")
    const evaluated = counts.find((c) => c.status === "evaluated")?.n ?? 0
    const failedAtEval = query<{ n: number }>(
      db,
      "SELECT COUNT(*) AS n FROM programs WHERE status = 'failed' AND failure_kind IN ('evaluator_error','timeout','output_limit','bad_metrics')"
    )[0]!.n
    expect(evaluated + failedAtEval).toBe(24)
    expect(counts.find((c) => c.status === "pending")).toBeUndefined()

    const [initial] = query<{ score: number }>(db, "SELECT score FROM programs WHERE parent_id IS NULL")
    const [best] = query<{ score: number; llm_model: string }>(db, "SELECT score, llm_model FROM programs WHERE status = 'evaluated' ORDER BY score DESC LIMIT 1")
    expect(best!.score).toBeGreaterThan(initial!.score)
    expect(best!.llm_model).toBe("fake-coder")
    const calls = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM llm_calls WHERE model = 'fake-coder'")[0]!.n
    expect(calls).toBeGreaterThanOrEqual(23)

    // The evaluator saw each candidate once; the key reached neither the database nor the output.
    const log = readFileSync(join(dir, "evaluated.log"), "utf8").trim().split("\n")
    expect(log.length).toBe(24)
    expect(new Set(log).size).toBe(24)
    expect(readFileSync(db).includes(apiKey)).toBe(false)
    expect(result.stdout + result.stderr).not.toContain(apiKey)

    const best2 = await runCli(["best", "--db", db], dir)
    expect(best2.status).toBe(0)
    expect(best2.stdout).toContain("export function search")
    const ls = await runCli(["ls", "--db", db], dir)
    expect(ls.stdout).toMatch(/completed\s+24/)
  })

  it("stops on SIGINT, then resume finishes the run without losing or repeating an evaluation", async () => {
    const slow = await startFakeOpenAiServer({ latency: { meanMs: 150, jitterMs: 50 }, seed: 3 })
    try {
      const dir = workspace()
      const db = join(dir, "run.db")
      const args = [
        "run", "initial_program.mjs", "counting_evaluator.mjs", "--config", "evolve.yaml",
        "--provider", "openai-chat", "--base-url", slow.url, "--iterations", "40", "--parallel", "4", "--db", db
      ]
      const child = spawn(process.execPath, [cliPath, ...args], { cwd: dir, env: { ...process.env }, stdio: "pipe" })
      let output = ""
      child.stdout.on("data", (d) => (output += d))
      child.stderr.on("data", (d) => (output += d))
      // Interrupt once a few candidates have been evaluated.
      await new Promise<void>((done) => {
        const poll = setInterval(() => {
          if (existsSync(join(dir, "evaluated.log")) && readFileSync(join(dir, "evaluated.log"), "utf8").split("\n").length > 8) {
            clearInterval(poll)
            child.kill("SIGINT")
            done()
          }
        }, 20)
      })
      const code = await new Promise<number | null>((done) => child.on("exit", (c) => done(c)))
      expect(output).toMatch(/interrupted/)
      expect(output).toMatch(/resume with\s+evolve resume run_/)
      expect(code).toBe(130)
      const before = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM programs WHERE status = 'evaluated'")[0]!.n
      expect(before).toBeLessThan(40)

      const resumed = await runCli(["resume", "--db", db], dir, { OPENAI_API_KEY: "" })
      expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0)
      expect(resumed.stdout).toMatch(/completed \(max_evaluations\)/)
      const evaluated = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM programs WHERE status IN ('evaluated') OR (status = 'failed' AND failure_kind IN ('evaluator_error','timeout','output_limit','bad_metrics'))")[0]!.n
      expect(evaluated).toBe(40)
      expect(query(db, "SELECT id FROM programs WHERE status = 'pending'")).toEqual([])
      const log = readFileSync(join(dir, "evaluated.log"), "utf8").trim().split("\n")
      // Every evaluator invocation committed exactly one result: nothing evaluated twice.
      expect(log.length).toBe(40)
      expect(new Set(log).size).toBe(40)
      const digest = createHash("sha256").update(readFileSync(join(dir, "initial_program.mjs"), "utf8")).digest("hex")
      expect(log.filter((h) => h === digest).length).toBeLessThanOrEqual(1)
    } finally {
      await slow.close()
    }
  })

  it("exits with code 2 and a specific message on bad configuration", async () => {
    const dir = workspace()
    writeFileSync(join(dir, "bad.yaml"), "concurrency:\n  evaluations: 0\n")
    const bad = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--config", "bad.yaml"], dir)
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/bad\.yaml: concurrency\.evaluations: expected an integer from 1 to 1024, got 0/)
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/)

    const missing = await runCli(["run", "nope.mjs", "evaluator.mjs"], dir)
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/program .*nope\.mjs: no such file/)

    const flag = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--iterations", "many"], dir)
    expect(flag.status).toBe(2)

    const heap = await runCli(["ls"], dir, { EVOLVE_HEAP_GROWTH_PERCENT: "lots" })
    expect(heap.status).toBe(2)
    expect(heap.stderr).toMatch(/EVOLVE_HEAP_GROWTH_PERCENT: expected an integer from 0 to 400, got "lots"/)

    // A worker serves a cluster: its database is PostgreSQL, its slots a sane count.
    const sqliteWorker = await runCli(["worker", "--db", "x.db"], dir)
    expect(sqliteWorker.status).toBe(2)
    expect(sqliteWorker.stderr).toMatch(/--db x\.db: a worker needs the cluster's PostgreSQL database/)
    const noSlots = await runCli(["worker", "--db", "postgres://evolve:hunter2@127.0.0.1:1/evolve", "--slots", "0"], dir)
    expect(noSlots.status).toBe(2)
    expect(noSlots.stderr).toMatch(/--slots 0: expected an integer from 1 to 1024/)
    expect(noSlots.stderr + noSlots.stdout).not.toContain("hunter2")
  })

  it("ls lists the cluster's live workers under the runs, and not those gone silent", async () => {
    const dir = workspace()
    const db = join(dir, "cluster.db")
    const now = Date.now()
    await Effect.runPromise(Effect.gen(function*() {
      const workers = yield* WorkerStore
      const base = { pid: 1, version: "0.1.0", capabilities: ["python3"], startedAt: now - 60_000 }
      yield* workers.registerWorker({ ...base, id: "gpu-box-1-a1b2", host: "gpu-box", slots: 8, tags: ["gpu"], heartbeatAt: now - 2_000 })
      yield* workers.registerWorker({ ...base, id: "cpu-box-9-zz00", host: "cpu-box", slots: 4, tags: [], heartbeatAt: now - 600_000 })
      yield* workers.heartbeat("gpu-box-1-a1b2", { busy: 5, done: 42 }, now - 1_000)
    }).pipe(Effect.provide(ProgramDatabase.layer(db))))
    const ls = await runCli(["ls", "--db", db], dir)
    expect(ls.status).toBe(0)
    expect(ls.stdout).toMatch(/1 worker alive: 5 of 8 slots busy/)
    expect(ls.stdout).toMatch(/gpu-box-1-a1b2\s+8\s+5\s+42\s+\d s\s+0\.1\.0\s+gpu/)
    expect(ls.stdout).not.toContain("cpu-box")
  })
})
