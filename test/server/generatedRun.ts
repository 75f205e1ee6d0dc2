/**
 * A finished run of `size` programs for the web UI's scale test: 4 islands, two models under the
 * bandit, a MAP-Elites grid and two objectives, failed and rejected candidates, LLM and
 * evaluation times that overlap as a real run's do. The run through RunStore; its programs and
 * LLM calls as the stores' own rows (Rows.ts), inserted in batches of 500 in one transaction.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Schema } from "effect"
import type { LlmCallRecord } from "../../src/db/Records.js"
import * as ProgramDatabase from "../../src/db/ProgramDatabase.js"
import { llmCallRow, programRow } from "../../src/db/Rows.js"
import { RunStore } from "../../src/db/RunStore.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import type { Program } from "../../src/domain/Program.js"
import { RunConfig } from "../../src/domain/RunConfig.js"
import { encodeDescriptor } from "../../src/population/Features.js"
import { mulberry32 } from "../support/FakeOpenAiServer.js"

export const generatedConfig = Schema.decodeUnknownSync(RunConfig)({
  goal: "A generated run of many programs, for the web UI's scale test.",
  max_evaluations: 100_000,
  concurrency: { proposals: 8, evaluations: 4 },
  llm: { provider: "openai-chat", selection: "bandit", models: [{ model: "model-a" }, { model: "model-b", price_input_per_m: 1 }] },
  population: {
    islands: 4,
    map_elites: { features: [{ name: "code_length", bins: 10 }, { name: "mean_value", bins: 10 }] },
    objectives: [{ metric: "combined_score" }, { metric: "mean_value", direction: "minimize" }]
  }
})

export const writeGeneratedRun = (databasePath: string, size: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const runs = yield* RunStore
    const programs: Array<ReturnType<typeof programRow> & { descriptor: string | null }> = []
    const calls: Array<LlmCallRecord> = []
    const random = mulberry32(20)
    const runId = RunId.make("run_generated10k")
    const start = 1_700_000_000_000
    yield* runs.createRun(runId, { programPath: "/workspace/initial_program.mjs", evaluatorPath: "/workspace/evaluator.mjs", config: generatedConfig }, start)
    const scored: Array<{ id: ProgramId; score: number; island: number; generation: number }> = []
    let best = 0
    {
      for (let i = 0; i < size; i++) {
        const id = ProgramId.make(`p_gen${String(i).padStart(6, "0")}`)
        // Parents: mostly recent good programs, sometimes the best so far.
        const parent = i === 0 ? undefined : scored[Math.max(0, scored.length - 1 - Math.floor(random() ** 2 * Math.min(scored.length, 300)))]!
        const island = i <= 4 ? Math.max(0, i - 1) : parent!.island
        const createdAt = start + i * 120 + Math.floor(random() * 60)
        const model = random() < 0.6 ? "model-a" : "model-b"
        const latency = 600 + random() * 900
        const roll = random()
        const status = i === 0 ? "pending" : roll < 0.1 ? "failed" : roll < 0.16 ? "rejected" : "pending"
        const code = `function search(f) { return ${i} * ${Math.round(random() * 1e6)} }\n`.repeat(1 + (i % 7))
        const program: Program = {
          id,
          runId,
          parentId: parent?.id ?? null,
          island,
          generation: parent === undefined ? 0 : parent.generation + 1,
          code,
          codeHash: `hash-${i}`,
          patch: i === 0 ? null : "<<<<<<< SEARCH\nreturn 1\n=======\nreturn 2\n>>>>>>> REPLACE",
          status,
          metrics: null,
          score: null,
          failure: status === "failed" ? { kind: "patch", message: "SEARCH text not found" } : status === "rejected" ? { kind: "duplicate", message: "identical to a program already in this run" } : null,
          feedback: null,
          createdAt,
          evaluatedAt: null,
          evalMs: null,
          llm: i === 0 ? null : { model, inputTokens: 2000, outputTokens: 150, usd: model === "model-b" ? 0.002 : 0, latencyMs: latency, attempts: 1 }
        }
        if (i > 0) {
          calls.push({
            id: `${id}.llm`, runId, programId: id, purpose: "proposal", model, inputTokens: 2000, outputTokens: 150, usd: program.llm!.usd,
            latencyMs: latency, attempts: 1, outcome: "ok", errorKind: null, errorMessage: null, createdAt
          })
        }
        if (status !== "pending") {
          programs.push({ ...programRow(program), descriptor: null })
          continue
        }
        const evalMs = 300 + random() * 500
        const evaluatedAt = createdAt + 100 + Math.floor(random() * 400) + evalMs
        if (i > 0 && random() < 0.05) {
          const failure = { kind: "timeout" as const, message: "evaluator timed out" }
          programs.push({ ...programRow({ ...program, status: "failed", failure, feedback: "[stderr]\nslow", evaluatedAt, evalMs }), descriptor: null })
          continue
        }
        const score = Math.max(0, Math.min(1, (parent?.score ?? 0.1) + (random() - 0.55) * 0.05))
        const meanValue = 5 - score * 4 + random()
        const metrics = { combined_score: score, mean_value: meanValue, valid_rate: 1 }
        programs.push({
          ...programRow({ ...program, status: "evaluated", metrics, score, feedback: "fine", evaluatedAt, evalMs }),
          descriptor: encodeDescriptor({ features: [code.length, meanValue], objectives: [score, meanValue] })
        })
        scored.push({ id, score, island, generation: program.generation })
        best = Math.max(best, score)
      }
    }
    yield* sql.withTransaction(Effect.gen(function*() {
      for (let i = 0; i < programs.length; i += 500) yield* sql`INSERT INTO programs ${sql.insert(programs.slice(i, i + 500))}`
      for (let i = 0; i < calls.length; i += 500) yield* sql`INSERT INTO llm_calls ${sql.insert(calls.slice(i, i + 500).map(llmCallRow))}`
    }))
    yield* runs.setRunStatus(runId, "completed", "max_evaluations", start + size * 120 + 2000)
    return { runId, best }
  }).pipe(Effect.provide(ProgramDatabase.layer(databasePath)), Effect.orDie)
