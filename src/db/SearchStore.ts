/**
 * What the search needs to continue a run: the resume snapshot of a run (population, pending
 * candidates, counters, usage) and the population's own state (descriptors, migrants, recent
 * failed evaluations, the patience counter).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import { ProgramId, type RunId } from "../domain/Ids.js"
import type { FailureKind } from "../domain/Program.js"
import type { SearchDecisionKind } from "../domain/RunEvent.js"
import { type EvaluationRecord, evaluationFailureKinds, type MigrantRecord, type SearchDecision, type SearchState, type StoredRun } from "./Records.js"
import * as ProgramTrees from "./ProgramTrees.js"
import { dbError, type Int8, int, type ProgramRow, toProgram, transaction } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class SearchStore extends Context.Tag("evolve/SearchStore")<SearchStore, {
  /** Everything a resumed run reloads about its candidates and usage. */
  readonly loadRun: (runId: RunId) => Effect.Effect<StoredRun, DatabaseError>
  /** Stores the MAP-Elites / objective descriptor (JSON) of a scored program. */
  readonly recordDescriptor: (id: ProgramId, descriptor: string) => Effect.Effect<void, DatabaseError>
  /** Stores migrant copies made by one ring migration, in one statement. */
  readonly recordMigrants: (runId: RunId, migrants: ReadonlyArray<MigrantRecord>, at: number) => Effect.Effect<void, DatabaseError>
  /** Stores a decision of adaptive search (issue 17) under the next number of the run. */
  readonly recordDecision: (runId: RunId, decision: Omit<SearchDecision, "seq">) => Effect.Effect<void, DatabaseError>
  /** A run's decisions, oldest first (the latest `limit`). */
  readonly listDecisions: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<SearchDecision>, DatabaseError>
  /**
   * The run's counted evaluations in the order they were committed (scored, or failed in the
   * evaluator): the island each program was bred on and its score (null: it failed). Adaptive
   * search replays them to rebuild its per-island stall state on resume.
   */
  readonly evaluationHistory: (runId: RunId) => Effect.Effect<ReadonlyArray<EvaluationRecord>, DatabaseError>
  /** Migrants, descriptors (when `descriptors`), the latest `failures` failed evaluations and the patience counter. */
  readonly loadSearchState: (
    runId: RunId,
    options: { readonly descriptors: boolean; readonly failures: number }
  ) => Effect.Effect<SearchState, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return SearchStore.of({
    loadRun: Traced.fn("SearchStore.loadRun")(function*(runId) {
      const population = yield* sql<{ id: string; score: number; island: number; generation: number }>`
        SELECT id, score, island, generation FROM programs
        WHERE run_id = ${runId} AND status = 'evaluated' ORDER BY score DESC`
      const pending = yield* sql<ProgramRow & { eval_starts: number }>`SELECT * FROM programs
        WHERE run_id = ${runId} AND status = 'pending' ORDER BY created_at, id`.pipe(
        Effect.flatMap((rows) => ProgramTrees.resolveCode(sql, rows))
      )
      const hashes = yield* sql<{ code_hash: string }>`SELECT DISTINCT code_hash FROM programs
        WHERE run_id = ${runId} AND status IN ('pending', 'evaluated', 'failed') AND code_hash <> ''`
      const counts = yield* sql<{ status: string; failure_kind: string | null; n: Int8 }>`
        SELECT status, failure_kind, COUNT(*) AS n FROM programs WHERE run_id = ${runId} GROUP BY status, failure_kind`
      const initial = yield* sql<{ id: string }>`SELECT id FROM programs
        WHERE run_id = ${runId} AND parent_id IS NULL ORDER BY created_at, id LIMIT 1`
      const usage = yield* sql<{ input_tokens: Int8 | null; output_tokens: Int8 | null; usd: number | null }>`
        SELECT SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(usd) AS usd
        FROM llm_calls WHERE run_id = ${runId}`
      const failuresByKind: Record<string, number> = {}
      let evaluations = 0
      for (const row of counts) {
        const n = int(row.n)
        if (row.status === "evaluated") evaluations += n
        if (row.failure_kind !== null && row.status !== "pending") {
          failuresByKind[row.failure_kind] = (failuresByKind[row.failure_kind] ?? 0) + n
          if (evaluationFailureKinds.includes(row.failure_kind as FailureKind)) evaluations += n
        }
      }
      return {
        population: population.map((r) => ({ ...r, id: ProgramId.make(r.id) })),
        pending: pending.map(toProgram),
        evaluationStarts: new Map(pending.flatMap((r) => r.eval_starts > 0 ? [[ProgramId.make(r.id), r.eval_starts] as const] : [])),
        codeHashes: hashes.map((r) => r.code_hash),
        evaluations,
        failuresByKind,
        initialProgramId: initial.length > 0 ? ProgramId.make(initial[0]!.id) : null,
        inputTokens: int(usage[0]?.input_tokens ?? 0),
        outputTokens: int(usage[0]?.output_tokens ?? 0),
        usd: usage[0]?.usd ?? 0
      }
    }, (effect) => Effect.mapError(effect, dbError("load run state"))),

    recordDescriptor: Traced.fn("SearchStore.recordDescriptor")(function*(id, descriptor) {
      yield* sql`UPDATE programs SET descriptor = ${descriptor} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("record descriptor"))
      )
    }),

    recordMigrants: Traced.fn("SearchStore.recordMigrants")(function*(runId, migrants, at) {
      if (migrants.length === 0) return
      yield* sql`INSERT INTO migrants ${
        sql.insert(migrants.map((m) => ({
          run_id: runId,
          program_id: m.programId,
          island: m.island,
          origin_island: m.origin,
          migrated_at: at
        })))
      }`.pipe(Effect.mapError(dbError("record migrants")))
    }),

    recordDecision: Traced.fn("SearchStore.recordDecision")(function*(runId, d) {
      yield* transaction(sql, "record search decision")(Effect.gen(function*() {
        const rows = yield* sql<{ seq: Int8 | null }>`SELECT MAX(seq) AS seq FROM search_decisions WHERE run_id = ${runId}`
        yield* sql`INSERT INTO search_decisions ${
          sql.insert({
            run_id: runId,
            seq: int(rows[0]?.seq ?? 0) + 1,
            at: d.at,
            evaluations: d.evaluations,
            kind: d.kind,
            island: d.island,
            reason: d.reason,
            note: d.note
          })
        }`
      }))
    }),

    listDecisions: Traced.fn("SearchStore.listDecisions")(function*(runId, limit) {
      const rows = yield* sql<
        { seq: Int8; at: Int8; evaluations: Int8; kind: string; island: number | null; reason: string; note: string | null }
      >`SELECT seq, at, evaluations, kind, island, reason, note FROM search_decisions WHERE run_id = ${runId}
        ORDER BY seq DESC LIMIT ${limit}`.pipe(Effect.mapError(dbError("read search decisions")))
      return [...rows].reverse().map((r) => ({
        seq: int(r.seq),
        at: int(r.at),
        evaluations: int(r.evaluations),
        kind: r.kind as SearchDecisionKind,
        island: r.island === null ? null : Number(r.island),
        reason: r.reason,
        note: r.note
      }))
    }),

    evaluationHistory: Traced.fn("SearchStore.evaluationHistory")(function*(runId) {
      const kinds = sql.in(evaluationFailureKinds as Array<string>)
      const rows = yield* sql<{ parent_id: string | null; island: number; score: number | null; status: string }>`
        SELECT parent_id, island, score, status FROM programs
        WHERE run_id = ${runId} AND evaluated_at IS NOT NULL AND (status = 'evaluated' OR (status = 'failed' AND failure_kind IN ${kinds}))
        ORDER BY evaluated_at, id`.pipe(Effect.mapError(dbError("read evaluation history")))
      return rows.map((r) => ({
        initial: r.parent_id === null,
        island: Number(r.island),
        score: r.status === "evaluated" && r.score !== null ? r.score : null
      }))
    }),

    loadSearchState: Traced.fn("SearchStore.loadSearchState")(function*(runId, options) {
      const migrants = yield* sql<{ program_id: string; island: number; origin_island: number }>`
        SELECT program_id, island, origin_island FROM migrants WHERE run_id = ${runId} ORDER BY migrated_at, program_id, island`
      const descriptors = new Map<string, string>()
      if (options.descriptors) {
        const rows = yield* sql<{ id: string; descriptor: string }>`SELECT id, descriptor FROM programs
          WHERE run_id = ${runId} AND status = 'evaluated' AND descriptor IS NOT NULL`
        for (const r of rows) descriptors.set(r.id, r.descriptor)
      }
      const kinds = sql.in(evaluationFailureKinds as Array<string>)
      const failed = options.failures <= 0 ? [] : yield* sql<{ id: string; island: number; generation: number; failure_kind: string }>`
        SELECT id, island, generation, failure_kind FROM programs
        WHERE run_id = ${runId} AND status = 'failed' AND failure_kind IN ${kinds}
        ORDER BY evaluated_at DESC, id DESC LIMIT ${options.failures}`
      const since = yield* sql<{ n: Int8 }>`SELECT COUNT(*) AS n FROM programs
        WHERE run_id = ${runId} AND evaluated_at IS NOT NULL
          AND (status = 'evaluated' OR failure_kind IN ${kinds})
          AND evaluated_at > COALESCE((SELECT evaluated_at FROM programs WHERE run_id = ${runId} AND status = 'evaluated'
            ORDER BY score DESC, evaluated_at LIMIT 1), ${Number.MAX_SAFE_INTEGER})`
      return {
        migrants: migrants.map((m) => ({ programId: ProgramId.make(m.program_id), island: m.island, origin: m.origin_island })),
        descriptors,
        failedEvaluations: [...failed].reverse().map((r) => ({
          id: ProgramId.make(r.id),
          island: r.island,
          generation: r.generation,
          kind: r.failure_kind as FailureKind
        })),
        evaluationsSinceBest: int(since[0]?.n ?? 0)
      }
    }, (effect) => Effect.mapError(effect, dbError("load search state")))
  })
})

export const layer: Layer.Layer<SearchStore, never, SqlClient.SqlClient> = Layer.effect(SearchStore, make)
