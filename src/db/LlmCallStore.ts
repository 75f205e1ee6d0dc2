/** LLM calls of a run: recorded per call (failed ones too), read per program and per model. */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { LlmCallRecord, LlmOutcome, ModelUsage } from "./Records.js"
import { dbError, type Int8, int, llmCallRow, type LlmCallRow, toLlmCall } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class LlmCallStore extends Context.Tag("evolve/LlmCallStore")<LlmCallStore, {
  readonly recordLlmCall: (call: LlmCallRecord) => Effect.Effect<void, DatabaseError>
  readonly usageByModel: (runId: RunId) => Effect.Effect<ReadonlyArray<ModelUsage>, DatabaseError>
  readonly llmCallsForProgram: (programId: string) => Effect.Effect<ReadonlyArray<LlmCallRecord>, DatabaseError>
  /** Every finished (not pending) candidate with an LLM model, in no particular order: rebuilds the bandit on resume. */
  readonly llmOutcomes: (
    runId: RunId,
    /** The score of each scored program when the caller already has them (saves reading them again). */
    scoreOf?: (id: string) => number | undefined
  ) => Effect.Effect<ReadonlyArray<LlmOutcome>, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return LlmCallStore.of({
    recordLlmCall: Traced.fn("LlmCallStore.recordLlmCall")(function*(call) {
      yield* sql`INSERT INTO llm_calls ${sql.insert(llmCallRow(call))}`.pipe(Effect.mapError(dbError("record LLM call")))
    }),

    usageByModel: Traced.fn("LlmCallStore.usageByModel")(function*(runId) {
      const rows = yield* sql<{
        model: string
        calls: Int8
        errors: Int8
        input_tokens: Int8
        output_tokens: Int8
        usd: number
      }>`SELECT model, COUNT(*) AS calls, SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS errors,
          SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(usd) AS usd
        FROM llm_calls WHERE run_id = ${runId} GROUP BY model ORDER BY model`.pipe(
        Effect.mapError(dbError("read LLM usage"))
      )
      return rows.map((r) => ({
        model: r.model,
        calls: int(r.calls),
        errors: int(r.errors),
        inputTokens: int(r.input_tokens),
        outputTokens: int(r.output_tokens),
        usd: r.usd
      }))
    }),

    llmCallsForProgram: Traced.fn("LlmCallStore.llmCallsForProgram")(function*(programId) {
      const rows = yield* sql<LlmCallRow>`SELECT * FROM llm_calls WHERE program_id = ${programId} ORDER BY created_at, id`.pipe(
        Effect.mapError(dbError("read LLM calls"))
      )
      return rows.map(toLlmCall)
    }),

    llmOutcomes: Traced.fn("LlmCallStore.llmOutcomes")(function*(runId, scoreOf) {
      // Both reads are covered by indexes (programs_by_run_model, programs_by_run_status_score):
      // joining each candidate to its parent's row instead read the whole table.
      const rows = yield* sql<{ model: string; status: string; score: number | null; parent_id: string | null; usd: number | null }>`
        SELECT llm_model AS model, status, score, parent_id, llm_usd AS usd FROM programs
        WHERE run_id = ${runId} AND llm_model IS NOT NULL AND status <> 'pending'`.pipe(Effect.mapError(dbError("read LLM outcomes")))
      let score = scoreOf
      if (score === undefined) {
        const scored = yield* sql<{ id: string; score: number }>`SELECT id, score FROM programs
          WHERE run_id = ${runId} AND status = 'evaluated'`.pipe(Effect.mapError(dbError("read LLM outcomes")))
        const scores = new Map<string, number>()
        for (const r of scored) scores.set(r.id, r.score)
        score = (id) => scores.get(id)
      }
      return rows.map((r) => {
        const parentScore = r.parent_id === null ? undefined : score(r.parent_id)
        return {
          model: r.model,
          improvement: r.status === "evaluated" && r.score !== null && parentScore !== undefined ? r.score - parentScore : 0,
          usd: r.usd ?? 0
        }
      })
    })
  })
})

export const layer: Layer.Layer<LlmCallStore, never, SqlClient.SqlClient> = Layer.effect(LlmCallStore, make)
