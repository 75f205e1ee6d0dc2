/** Reads the timeline of a finished run from its SQLite database (read after evolve exited). */
import { SqlClient } from "@effect/sql"
import * as SqliteClient from "../../src/db/SqliteClient.js"
import { Effect } from "effect"

export interface ProgramTimes {
  /** Epoch ms when the LLM reply was turned into a pending candidate. */
  readonly createdAt: number
  /** Epoch ms when the evaluation result was committed (null: never evaluated). */
  readonly evaluatedAt: number | null
  /** The evaluator's run time as CommandEvaluator measured it. */
  readonly evalMs: number | null
  /** The LLM call's latency as evolve measured it (null for the initial program). */
  readonly llmLatencyMs: number | null
}

export const readProgramTimes = (filename: string): Promise<ReadonlyArray<ProgramTimes>> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{
      created_at: number
      evaluated_at: number | null
      eval_ms: number | null
      llm_latency_ms: number | null
    }>`SELECT created_at, evaluated_at, eval_ms, llm_latency_ms FROM programs ORDER BY created_at`
    return rows.map((r) => ({
      createdAt: r.created_at,
      evaluatedAt: r.evaluated_at,
      evalMs: r.eval_ms,
      llmLatencyMs: r.llm_latency_ms
    }))
  }).pipe(Effect.provide(SqliteClient.layer(filename)), Effect.runPromise)
