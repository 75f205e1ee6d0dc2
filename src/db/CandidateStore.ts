/**
 * Candidates on the run's hot path: stored when proposed (pending, or failed/rejected with the
 * reason), counted when their evaluation starts, committed once with their result.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import { Context, Effect, Layer } from "effect"
import { type DatabaseError, ProgramNotFound } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import type { LlmCallRecord, Transcript } from "./Records.js"
import * as ProgramTrees from "./ProgramTrees.js"
import * as ResultNotices from "./ResultNotices.js"
import { dbError, llmCallRow, programRow, type ProgramRow, toProgram, transcriptRow } from "./Rows.js"
import * as SqliteClient from "./SqliteClient.js"
import * as Traced from "../domain/Traced.js"

export class CandidateStore extends Context.Tag("evolve/CandidateStore")<CandidateStore, {
  /**
   * Inserts a candidate (pending, failed or rejected) with its LLM call and the exchanges of the
   * proposal (prompts and answers), in one transaction.
   */
  readonly insertProgram: (
    program: Program,
    llmCall?: LlmCallRecord,
    transcripts?: ReadonlyArray<Transcript>
  ) => Effect.Effect<void, DatabaseError>
  /**
   * Counts one more start of a pending candidate's evaluation, just before it begins (returns
   * the new count; 0 when the candidate is no longer pending).
   */
  readonly startEvaluation: (id: ProgramId) => Effect.Effect<number, DatabaseError>
  /**
   * `startEvaluation` and `getProgram` in one statement (a cluster worker's): the candidate, its
   * start counted, or undefined when it is not pending (committed already, or unknown).
   */
  readonly startPending: (id: ProgramId) => Effect.Effect<Program | undefined, DatabaseError>
  /**
   * Commits an evaluation result; false when the candidate was not pending (already committed).
   * `notice` (Postgres): announced on ResultNotices.CHANNEL by the same statement, if it commits.
   */
  readonly commitEvaluation: (id: ProgramId, outcome: EvaluationOutcome, at: number, notice?: string) => Effect.Effect<boolean, DatabaseError>
  readonly getProgram: (id: string) => Effect.Effect<Program, DatabaseError | ProgramNotFound>
  /** Several programs in one query, in the order of `ids` (a missing one fails with ProgramNotFound). */
  readonly getPrograms: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Program>, DatabaseError | ProgramNotFound>
  readonly bestPrograms: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<Program>, DatabaseError>
  /** The latest failed or rejected candidates, newest first. */
  readonly recentFailures: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<Program>, DatabaseError>
  /** The run's kept (not rejected) program with this code hash, the oldest when several (a replayed steering action's program). */
  readonly programIdByHash: (runId: RunId, codeHash: string) => Effect.Effect<ProgramId | undefined, DatabaseError>
}>() {}

/** Postgres: data-modifying statements run as one, each in a WITH clause but the last. */
const oneStatement = (sql: SqlClient.SqlClient, statements: ReadonlyArray<Statement.Statement<unknown>>) =>
  sql`WITH ${sql.join(", ", false)(statements.slice(0, -1).map((s, i) => sql`${sql.literal(`s${i}`)} AS (${s})`))} ${statements.at(-1)!}`

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const hot = SqliteClient.makeRunner(sql, yield* Effect.serviceOption(SqliteClient.SqliteDirect))
  const known = ProgramTrees.makeKnownBlobs()
  const resolve = (rows: ReadonlyArray<ProgramRow>) => ProgramTrees.resolveCode(sql, rows)
  return CandidateStore.of({
    insertProgram: Traced.fn("CandidateStore.insertProgram")(function*(p, llmCall, transcripts = []) {
      const stored = ProgramTrees.toStored(p.code, known)
      const blobs = ProgramTrees.insertBlobs(sql, stored.blobs)
      const statements: Array<Statement.Statement<object>> = [
        ...(blobs === undefined ? [] : [blobs]),
        sql`INSERT INTO programs ${sql.insert({ ...programRow(p), code: stored.code, tree: stored.tree })}`
      ]
      if (llmCall !== undefined) statements.push(sql`INSERT INTO llm_calls ${sql.insert(llmCallRow(llmCall))}`)
      if (transcripts.length > 0) statements.push(sql`INSERT INTO program_transcripts ${sql.insert(transcripts.map(transcriptRow))}`)
      yield* (statements.length === 1
        ? hot.rows("insert program", statements[0]!)
        : sql.onDialectOrElse({
          // One statement, one round trip (`WITH s0 AS (INSERT …), … INSERT …`): atomic as the transaction is.
          pg: () => oneStatement(sql, statements).pipe(Effect.mapError(dbError("insert program"))),
          orElse: () => hot.transaction("insert program", statements)
        }))
      known.add(stored.blobs.map((b) => b.hash))
    }),

    startEvaluation: Traced.fn("CandidateStore.startEvaluation")(function*(id) {
      const rows = yield* hot.rows(
        "record evaluation start",
        sql<{ eval_starts: number }>`UPDATE programs SET eval_starts = eval_starts + 1
        WHERE id = ${id} AND status = 'pending' RETURNING eval_starts`
      )
      return rows[0]?.eval_starts ?? 0
    }),

    startPending: Traced.fn("CandidateStore.startPending")(function*(id) {
      const rows = yield* hot.rows(
        "start evaluation",
        sql<ProgramRow>`UPDATE programs SET eval_starts = eval_starts + 1 WHERE id = ${id} AND status = 'pending' RETURNING *`
      ).pipe(Effect.flatMap((rows) => Effect.mapError(resolve(rows), dbError("start evaluation"))))
      return rows.length === 0 ? undefined : toProgram(rows[0]!)
    }),

    commitEvaluation: Traced.fn("CandidateStore.commitEvaluation")(function*(id, outcome, at, notice) {
      const update = outcome._tag === "Scored"
        ? sql<{ id: string }>`UPDATE programs SET status = 'evaluated', metrics = ${
          JSON.stringify(outcome.metrics)
        }, score = ${outcome.score}, feedback = ${outcome.feedback}, evaluated_at = ${at}, eval_ms = ${outcome.durationMs}
            WHERE id = ${id} AND status = 'pending' RETURNING id`
        : sql<{ id: string }>`UPDATE programs SET status = 'failed', failure_kind = ${outcome.failure.kind},
            failure_message = ${outcome.failure.message}, feedback = ${outcome.feedback}, evaluated_at = ${at},
            eval_ms = ${outcome.durationMs}
            WHERE id = ${id} AND status = 'pending' RETURNING id`
      const rows = yield* sql.onDialectOrElse({
        pg: () =>
          (notice === undefined
            ? update
            : sql<{ id: string }>`WITH c AS (${update}) SELECT id, pg_notify(${ResultNotices.CHANNEL}, ${notice}) FROM c`).pipe(
              Effect.mapError(dbError("commit evaluation"))
            ),
        orElse: () => hot.rows("commit evaluation", update)
      })
      return rows.length === 1
    }),

    getProgram: Traced.fn("CandidateStore.getProgram")(function*(id) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE id = ${id}`.pipe(
        Effect.flatMap(resolve),
        Effect.mapError(dbError("read program"))
      )
      if (rows.length === 0) return yield* new ProgramNotFound({ programId: id })
      return toProgram(rows[0]!)
    }),

    programIdByHash: Traced.fn("CandidateStore.programIdByHash")(function*(runId, hash) {
      const rows = yield* sql<{ id: string }>`SELECT id FROM programs WHERE run_id = ${runId}
        AND status IN ('pending', 'evaluated', 'failed') AND code_hash = ${hash} ORDER BY created_at, id LIMIT 1`.pipe(
        Effect.mapError(dbError("find program by code"))
      )
      return rows[0] === undefined ? undefined : rows[0].id as ProgramId
    }),

    getPrograms: Traced.fn("CandidateStore.getPrograms")(function*(ids) {
      if (ids.length === 0) return []
      const rows = yield* hot.rows("read programs", sql<ProgramRow>`SELECT * FROM programs WHERE id IN ${sql.in(ids as Array<string>)}`).pipe(
        Effect.flatMap((rows) => Effect.mapError(resolve(rows), dbError("read programs")))
      )
      const byId = new Map<string, ProgramRow>()
      for (const row of rows) byId.set(row.id, row)
      const out: Array<Program> = []
      for (const id of ids) {
        const row = byId.get(id)
        if (row === undefined) return yield* new ProgramNotFound({ programId: id })
        out.push(toProgram(row))
      }
      return out
    }),

    bestPrograms: Traced.fn("CandidateStore.bestPrograms")(function*(runId, limit) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE run_id = ${runId} AND status = 'evaluated'
        ORDER BY score DESC, created_at LIMIT ${limit}`.pipe(Effect.flatMap(resolve), Effect.mapError(dbError("read best programs")))
      return rows.map(toProgram)
    }),

    recentFailures: Traced.fn("CandidateStore.recentFailures")(function*(runId, limit) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE run_id = ${runId} AND status IN ('failed', 'rejected')
        ORDER BY created_at DESC LIMIT ${limit}`.pipe(Effect.flatMap(resolve), Effect.mapError(dbError("read recent failures")))
      return rows.map(toProgram)
    })
  })
})

export const layer: Layer.Layer<CandidateStore, never, SqlClient.SqlClient> = Layer.effect(CandidateStore, make)
