// Deep imports only: a barrel import ("@effect/platform") pulls the whole package, Swagger UI
// included, into the bundle chunk of every command that opens a database.
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Cause, Context, Effect, Layer, Schema } from "effect"
import { DatabaseError, ProgramNotFound, RunNotFound } from "../domain/Errors.js"
import { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, FailureKind, Metrics, Program, ProgramStatus } from "../domain/Program.js"
import type { RunStatus } from "../domain/RunEvent.js"
import { RunSpec } from "../domain/RunConfig.js"
import { migrations } from "./migrations.js"

export interface RunRecord {
  readonly id: RunId
  readonly createdAt: number
  readonly updatedAt: number
  readonly status: RunStatus
  readonly stopReason: string | null
  readonly spec: RunSpec
}

/** A run with its counts, for listings. */
export interface RunOverview extends RunRecord {
  readonly evaluated: number
  readonly failed: number
  readonly pending: number
  readonly bestScore: number | null
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

/** What the engine keeps in memory per scored program: enough to sample, no code. */
export interface PopulationEntry {
  readonly id: ProgramId
  readonly score: number
  readonly island: number
  readonly generation: number
}

export interface RunState {
  readonly population: ReadonlyArray<PopulationEntry>
  readonly pending: ReadonlyArray<Program>
  /** How many times each pending candidate's evaluation was started (absent: never). */
  readonly evaluationStarts: ReadonlyMap<ProgramId, number>
  readonly codeHashes: ReadonlyArray<string>
  /** Evaluations finished (scored, or failed in the evaluator). */
  readonly evaluations: number
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly initialProgramId: ProgramId | null
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

export interface LlmCallRecord {
  readonly id: string
  readonly runId: RunId
  readonly programId: ProgramId | null
  readonly model: string
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
  readonly latencyMs: number
  readonly attempts: number
  readonly outcome: "ok" | "error"
  readonly errorKind: string | null
  readonly errorMessage: string | null
  readonly createdAt: number
}

export interface ModelUsage {
  readonly model: string
  readonly calls: number
  readonly errors: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

// ---- LLM layer (issue 4) ----------------------------------------------------------------------

/** One finished candidate of a model, for the bandit (improvement over its parent, ≤ 0 when none). */
export interface LlmOutcome {
  readonly model: string
  readonly improvement: number
  readonly usd: number
}

// ---- end LLM layer ----------------------------------------------------------------------------

// ---- search (src/population, issue 5) --------------------------------------------------------

/** A copy of a program living on another island (ring migration). */
export interface MigrantRecord {
  readonly programId: ProgramId
  readonly island: number
  readonly origin: number
}

/** A failed evaluation, for the population's fix mode. */
export interface FailedEvaluation {
  readonly id: ProgramId
  readonly island: number
  readonly generation: number
  readonly kind: FailureKind
}

/** What a resumed run's population needs besides `RunState`. */
export interface SearchState {
  readonly migrants: ReadonlyArray<MigrantRecord>
  /** Program id → descriptor JSON (only when asked for). */
  readonly descriptors: ReadonlyMap<string, string>
  /** The latest failed evaluations, newest last. */
  readonly failedEvaluations: ReadonlyArray<FailedEvaluation>
  /** Evaluations finished after the best program was first reached (the patience counter). */
  readonly evaluationsSinceBest: number
}

export interface ParetoObjective {
  readonly metric: string
  readonly direction: "maximize" | "minimize"
}

// ---- end of search types ----------------------------------------------------------------------

// ---- evolve serve: types for the HTTP API and the RunManager ----------------------------------

/** A program without its code, patch and feedback: for listings and lineage. */
export type ProgramSummary = Omit<Program, "code" | "patch" | "feedback">

export interface ProgramQuery {
  readonly offset: number
  readonly limit: number
  readonly sort: "score" | "time"
  readonly order: "asc" | "desc"
  readonly status?: ProgramStatus | undefined
  readonly island?: number | undefined
}

export interface ProgramPage {
  readonly total: number
  readonly items: ReadonlyArray<ProgramSummary>
}

export interface Lineage {
  /** From the root (the initial program) down to the program's parent. */
  readonly ancestors: ReadonlyArray<ProgramSummary>
  readonly program: ProgramSummary
  readonly children: ReadonlyArray<ProgramSummary>
}

/** One finished evaluation, for a score-over-time plot. */
export interface ScorePoint {
  readonly programId: ProgramId
  readonly at: number
  readonly score: number | null
  readonly status: ProgramStatus
}

/** A RunEvent as stored: numbered per run (the SSE event id), the event itself as JSON. */
export interface StoredEventRow {
  readonly runId: RunId
  readonly seq: number
  readonly at: number
  readonly type: string
  readonly data: string
}

// ---- end of evolve serve types ----------------------------------------------------------------

/** Failure kinds that happen after a candidate reached the evaluator (they count as evaluations). */
export const evaluationFailureKinds: ReadonlyArray<FailureKind> = ["evaluator_error", "timeout", "output_limit", "bad_metrics"]

export class ProgramDatabase extends Context.Tag("evolve/ProgramDatabase")<ProgramDatabase, {
  readonly createRun: (id: RunId, spec: RunSpec, at: number) => Effect.Effect<void, DatabaseError>
  readonly getRun: (id: string) => Effect.Effect<RunRecord, DatabaseError | RunNotFound>
  readonly listRuns: Effect.Effect<ReadonlyArray<RunOverview>, DatabaseError>
  readonly setRunStatus: (id: RunId, status: RunStatus, reason: string | null, at: number) => Effect.Effect<void, DatabaseError>
  /** Inserts a candidate (pending, failed or rejected) with its LLM call, in one transaction. */
  readonly insertProgram: (program: Program, llmCall?: LlmCallRecord) => Effect.Effect<void, DatabaseError>
  readonly recordLlmCall: (call: LlmCallRecord) => Effect.Effect<void, DatabaseError>
  /**
   * Counts one more start of a pending candidate's evaluation, just before it begins (returns
   * the new count; 0 when the candidate is no longer pending).
   */
  readonly startEvaluation: (id: ProgramId) => Effect.Effect<number, DatabaseError>
  /** Commits an evaluation result; false when the candidate was not pending (already committed). */
  readonly commitEvaluation: (id: ProgramId, outcome: EvaluationOutcome, at: number) => Effect.Effect<boolean, DatabaseError>
  readonly getProgram: (id: string) => Effect.Effect<Program, DatabaseError | ProgramNotFound>
  /** Several programs in one query, in the order of `ids` (a missing one fails with ProgramNotFound). */
  readonly getPrograms: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Program>, DatabaseError | ProgramNotFound>
  readonly loadRunState: (runId: RunId) => Effect.Effect<RunState, DatabaseError>
  readonly bestPrograms: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<Program>, DatabaseError>
  readonly recentFailures: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<Program>, DatabaseError>
  readonly usageByModel: (runId: RunId) => Effect.Effect<ReadonlyArray<ModelUsage>, DatabaseError>
  // ---- LLM layer (issue 4) ----
  /** Every finished (not pending) candidate with an LLM model, in no particular order: rebuilds the bandit on resume. */
  readonly llmOutcomes: (
    runId: RunId,
    /** The score of each scored program when the caller already has them (saves reading them again). */
    scoreOf?: (id: string) => number | undefined
  ) => Effect.Effect<ReadonlyArray<LlmOutcome>, DatabaseError>
  // ---- search (src/population) ----
  /** Stores the MAP-Elites / objective descriptor (JSON) of a scored program. */
  readonly recordDescriptor: (id: ProgramId, descriptor: string) => Effect.Effect<void, DatabaseError>
  /** Stores migrant copies made by one ring migration, in one statement. */
  readonly recordMigrants: (runId: RunId, migrants: ReadonlyArray<MigrantRecord>, at: number) => Effect.Effect<void, DatabaseError>
  /** Migrants, descriptors (when `descriptors`), the latest `failures` failed evaluations and the patience counter. */
  readonly loadSearchState: (
    runId: RunId,
    options: { readonly descriptors: boolean; readonly failures: number }
  ) => Effect.Effect<SearchState, DatabaseError>
  /** The non-dominated scored programs over `objectives` (programs missing an objective metric are left out). */
  readonly paretoFront: (runId: RunId, objectives: ReadonlyArray<ParetoObjective>) => Effect.Effect<ReadonlyArray<ProgramSummary>, DatabaseError>
  // ---- evolve serve (HTTP API, RunManager) ----
  readonly runOverview: (id: string) => Effect.Effect<RunOverview, DatabaseError | RunNotFound>
  readonly listPrograms: (runId: RunId, query: ProgramQuery) => Effect.Effect<ProgramPage, DatabaseError>
  /** Ancestors (up to `maxDepth`), the program and its children (up to `maxChildren`, best first). */
  readonly lineage: (id: string, maxDepth: number, maxChildren: number) => Effect.Effect<Lineage, DatabaseError | ProgramNotFound>
  /** Finished evaluations in time order (the latest `limit`). */
  readonly scoreTimeline: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<ScorePoint>, DatabaseError>
  readonly llmCallsForProgram: (programId: string) => Effect.Effect<ReadonlyArray<LlmCallRecord>, DatabaseError>
  /** Appends stored events in one transaction. */
  readonly appendEvents: (events: ReadonlyArray<StoredEventRow>) => Effect.Effect<void, DatabaseError>
  /** Events of a run with seq > afterSeq, in order, at most `limit`. */
  readonly readEvents: (runId: RunId, afterSeq: number, limit: number) => Effect.Effect<ReadonlyArray<StoredEventRow>, DatabaseError>
  readonly lastEventSeq: (runId: RunId) => Effect.Effect<number, DatabaseError>
  /** Marks which host drives a run ("serve"), so a restarted server resumes only its own runs. */
  readonly setRunHost: (runId: RunId, host: string | null) => Effect.Effect<void, DatabaseError>
  /** Runs driven by `host` that were active when it stopped: still running/stopping, or stopped with `reason`. */
  readonly runsToRecover: (host: string, reason: string) => Effect.Effect<ReadonlyArray<RunRecord>, DatabaseError>
  // ---- run leases (src/engine/RunLease) ----
  /** Who holds the run's lease, and its last heartbeat; null when nobody does. */
  readonly readLease: (runId: RunId) => Effect.Effect<RunLeaseRecord | null, DatabaseError>
  /** Takes the lease if its holder is still `expected` (compare-and-set); false when someone else got there first. */
  readonly takeLease: (runId: RunId, owner: string, expected: string | null, at: number) => Effect.Effect<boolean, DatabaseError>
  /** A heartbeat; false when `owner` no longer holds the lease. */
  readonly renewLease: (runId: RunId, owner: string, at: number) => Effect.Effect<boolean, DatabaseError>
  readonly releaseLease: (runId: RunId, owner: string) => Effect.Effect<void, DatabaseError>
}>() {}

export interface RunLeaseRecord {
  readonly owner: string
  readonly heartbeatAt: number
}

/** SqlError's own message is generic ("Failed to execute statement"): name SQLite's reason too. */
const sqlReason = (error: SqlError.SqlError): string => {
  const inner = error.cause instanceof Error ? error.cause.message : typeof error.cause === "string" ? error.cause : ""
  return inner !== "" && inner !== error.message ? `${error.message}: ${inner}` : error.message
}

const dbError = (operation: string) => (cause: SqlError.SqlError) =>
  new DatabaseError({ operation, message: `${operation}: ${sqlReason(cause)}`, cause })

const decodeSpec = Schema.decodeUnknownSync(Schema.parseJson(RunSpec))
const encodeSpec = Schema.encodeSync(Schema.parseJson(RunSpec))

interface RunRow {
  readonly id: string
  readonly created_at: number
  readonly updated_at: number
  readonly status: string
  readonly stop_reason: string | null
  readonly spec: string
}

interface ProgramRow {
  readonly id: string
  readonly run_id: string
  readonly parent_id: string | null
  readonly island: number
  readonly generation: number
  readonly code: string
  readonly code_hash: string
  readonly patch: string | null
  readonly status: string
  readonly metrics: string | null
  readonly score: number | null
  readonly failure_kind: string | null
  readonly failure_message: string | null
  readonly feedback: string | null
  readonly created_at: number
  readonly evaluated_at: number | null
  readonly eval_ms: number | null
  readonly llm_model: string | null
  readonly llm_input_tokens: number | null
  readonly llm_output_tokens: number | null
  readonly llm_usd: number | null
  readonly llm_latency_ms: number | null
  readonly llm_attempts: number | null
}

const toRun = (row: RunRow): RunRecord => ({
  id: RunId.make(row.id),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  status: row.status as RunStatus,
  stopReason: row.stop_reason,
  spec: decodeSpec(row.spec)
})

const toProgram = (row: ProgramRow): Program => ({
  id: ProgramId.make(row.id),
  runId: RunId.make(row.run_id),
  parentId: row.parent_id === null ? null : ProgramId.make(row.parent_id),
  island: row.island,
  generation: row.generation,
  code: row.code,
  codeHash: row.code_hash,
  patch: row.patch,
  status: row.status as ProgramStatus,
  metrics: row.metrics === null ? null : JSON.parse(row.metrics) as Metrics,
  score: row.score,
  failure: row.failure_kind === null ? null : { kind: row.failure_kind as FailureKind, message: row.failure_message ?? "" },
  feedback: row.feedback,
  createdAt: row.created_at,
  evaluatedAt: row.evaluated_at,
  evalMs: row.eval_ms,
  llm: row.llm_model === null ? null : {
    model: row.llm_model,
    inputTokens: row.llm_input_tokens ?? 0,
    outputTokens: row.llm_output_tokens ?? 0,
    usd: row.llm_usd ?? 0,
    latencyMs: row.llm_latency_ms ?? 0,
    attempts: row.llm_attempts ?? 0
  }
})

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  yield* sql`PRAGMA busy_timeout = 5000`.pipe(Effect.mapError(dbError("configure database")))
  yield* sql`PRAGMA synchronous = NORMAL`.pipe(Effect.mapError(dbError("configure database")))
  yield* sql`PRAGMA foreign_keys = ON`.pipe(Effect.mapError(dbError("configure database")))

  const insertLlmCall = (c: LlmCallRecord) =>
    sql`INSERT INTO llm_calls ${
      sql.insert({
        id: c.id,
        run_id: c.runId,
        program_id: c.programId,
        model: c.model,
        input_tokens: c.inputTokens,
        output_tokens: c.outputTokens,
        usd: c.usd,
        latency_ms: c.latencyMs,
        attempts: c.attempts,
        outcome: c.outcome,
        error_kind: c.errorKind,
        error_message: c.errorMessage,
        created_at: c.createdAt
      })
    }`

  return ProgramDatabase.of({
    createRun: Effect.fn("ProgramDatabase.createRun")(function*(id, spec, at) {
      yield* sql`INSERT INTO runs ${
        sql.insert({ id, created_at: at, updated_at: at, status: "running", stop_reason: null, spec: encodeSpec(spec) })
      }`.pipe(Effect.mapError(dbError("create run")))
    }),

    getRun: Effect.fn("ProgramDatabase.getRun")(function*(id) {
      const rows = yield* sql<RunRow>`SELECT * FROM runs WHERE id = ${id}`.pipe(Effect.mapError(dbError("read run")))
      if (rows.length === 0) return yield* new RunNotFound({ runId: id })
      return toRun(rows[0]!)
    }),

    listRuns: Effect.gen(function*() {
      const rows = yield* sql<OverviewRow>`SELECT r.*, ${overviewColumns} FROM runs r ORDER BY r.created_at DESC`.pipe(
        Effect.mapError(dbError("list runs"))
      )
      return rows.map(toOverview)
    }).pipe(Effect.withSpan("ProgramDatabase.listRuns")),

    setRunStatus: Effect.fn("ProgramDatabase.setRunStatus")(function*(id, status, reason, at) {
      yield* sql`UPDATE runs SET status = ${status}, stop_reason = ${reason}, updated_at = ${at} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("update run status"))
      )
    }),

    insertProgram: Effect.fn("ProgramDatabase.insertProgram")(function*(p, llmCall) {
      const insert = sql`INSERT INTO programs ${
        sql.insert({
          id: p.id,
          run_id: p.runId,
          parent_id: p.parentId,
          island: p.island,
          generation: p.generation,
          code: p.code,
          code_hash: p.codeHash,
          patch: p.patch,
          status: p.status,
          metrics: p.metrics === null ? null : JSON.stringify(p.metrics),
          score: p.score,
          failure_kind: p.failure?.kind ?? null,
          failure_message: p.failure?.message ?? null,
          feedback: p.feedback,
          created_at: p.createdAt,
          evaluated_at: p.evaluatedAt,
          eval_ms: p.evalMs,
          llm_model: p.llm?.model ?? null,
          llm_input_tokens: p.llm?.inputTokens ?? null,
          llm_output_tokens: p.llm?.outputTokens ?? null,
          llm_usd: p.llm?.usd ?? null,
          llm_latency_ms: p.llm?.latencyMs ?? null,
          llm_attempts: p.llm?.attempts ?? null
        })
      }`
      const write = llmCall === undefined ? insert : sql.withTransaction(Effect.zipRight(insert, insertLlmCall(llmCall)))
      yield* write.pipe(Effect.mapError(dbError("insert program")))
    }),

    recordLlmCall: Effect.fn("ProgramDatabase.recordLlmCall")(function*(call) {
      yield* insertLlmCall(call).pipe(Effect.mapError(dbError("record LLM call")))
    }),

    startEvaluation: Effect.fn("ProgramDatabase.startEvaluation")(function*(id) {
      const rows = yield* sql<{ eval_starts: number }>`UPDATE programs SET eval_starts = eval_starts + 1
        WHERE id = ${id} AND status = 'pending' RETURNING eval_starts`.pipe(Effect.mapError(dbError("record evaluation start")))
      return rows[0]?.eval_starts ?? 0
    }),

    commitEvaluation: Effect.fn("ProgramDatabase.commitEvaluation")(function*(id, outcome, at) {
      const rows = outcome._tag === "Scored"
        ? yield* sql<{ id: string }>`UPDATE programs SET status = 'evaluated', metrics = ${
          JSON.stringify(outcome.metrics)
        }, score = ${outcome.score}, feedback = ${outcome.feedback}, evaluated_at = ${at}, eval_ms = ${outcome.durationMs}
            WHERE id = ${id} AND status = 'pending' RETURNING id`
        : yield* sql<{ id: string }>`UPDATE programs SET status = 'failed', failure_kind = ${outcome.failure.kind},
            failure_message = ${outcome.failure.message}, feedback = ${outcome.feedback}, evaluated_at = ${at},
            eval_ms = ${outcome.durationMs}
            WHERE id = ${id} AND status = 'pending' RETURNING id`
      return rows.length === 1
    }, (effect) => Effect.mapError(effect, dbError("commit evaluation"))),

    getProgram: Effect.fn("ProgramDatabase.getProgram")(function*(id) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("read program"))
      )
      if (rows.length === 0) return yield* new ProgramNotFound({ programId: id })
      return toProgram(rows[0]!)
    }),

    getPrograms: Effect.fn("ProgramDatabase.getPrograms")(function*(ids) {
      if (ids.length === 0) return []
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE id IN ${sql.in(ids as Array<string>)}`.pipe(
        Effect.mapError(dbError("read programs"))
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

    loadRunState: Effect.fn("ProgramDatabase.loadRunState")(function*(runId) {
      const population = yield* sql<{ id: string; score: number; island: number; generation: number }>`
        SELECT id, score, island, generation FROM programs
        WHERE run_id = ${runId} AND status = 'evaluated' ORDER BY score DESC`
      const pending = yield* sql<ProgramRow & { eval_starts: number }>`SELECT * FROM programs
        WHERE run_id = ${runId} AND status = 'pending' ORDER BY created_at, id`
      const hashes = yield* sql<{ code_hash: string }>`SELECT DISTINCT code_hash FROM programs
        WHERE run_id = ${runId} AND status IN ('pending', 'evaluated', 'failed') AND code_hash <> ''`
      const counts = yield* sql<{ status: string; failure_kind: string | null; n: number }>`
        SELECT status, failure_kind, COUNT(*) AS n FROM programs WHERE run_id = ${runId} GROUP BY status, failure_kind`
      const initial = yield* sql<{ id: string }>`SELECT id FROM programs
        WHERE run_id = ${runId} AND parent_id IS NULL ORDER BY created_at, id LIMIT 1`
      const usage = yield* sql<{ input_tokens: number | null; output_tokens: number | null; usd: number | null }>`
        SELECT SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(usd) AS usd
        FROM llm_calls WHERE run_id = ${runId}`
      const failuresByKind: Record<string, number> = {}
      let evaluations = 0
      for (const row of counts) {
        if (row.status === "evaluated") evaluations += row.n
        if (row.failure_kind !== null && row.status !== "pending") {
          failuresByKind[row.failure_kind] = (failuresByKind[row.failure_kind] ?? 0) + row.n
          if (evaluationFailureKinds.includes(row.failure_kind as FailureKind)) evaluations += row.n
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
        inputTokens: usage[0]?.input_tokens ?? 0,
        outputTokens: usage[0]?.output_tokens ?? 0,
        usd: usage[0]?.usd ?? 0
      }
    }, (effect) => Effect.mapError(effect, dbError("load run state"))),

    bestPrograms: Effect.fn("ProgramDatabase.bestPrograms")(function*(runId, limit) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE run_id = ${runId} AND status = 'evaluated'
        ORDER BY score DESC, created_at LIMIT ${limit}`.pipe(Effect.mapError(dbError("read best programs")))
      return rows.map(toProgram)
    }),

    recentFailures: Effect.fn("ProgramDatabase.recentFailures")(function*(runId, limit) {
      const rows = yield* sql<ProgramRow>`SELECT * FROM programs WHERE run_id = ${runId} AND status IN ('failed', 'rejected')
        ORDER BY created_at DESC LIMIT ${limit}`.pipe(Effect.mapError(dbError("read recent failures")))
      return rows.map(toProgram)
    }),

    usageByModel: Effect.fn("ProgramDatabase.usageByModel")(function*(runId) {
      const rows = yield* sql<{
        model: string
        calls: number
        errors: number
        input_tokens: number
        output_tokens: number
        usd: number
      }>`SELECT model, COUNT(*) AS calls, SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS errors,
          SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(usd) AS usd
        FROM llm_calls WHERE run_id = ${runId} GROUP BY model ORDER BY model`.pipe(
        Effect.mapError(dbError("read LLM usage"))
      )
      return rows.map((r) => ({
        model: r.model,
        calls: r.calls,
        errors: r.errors,
        inputTokens: r.input_tokens,
        outputTokens: r.output_tokens,
        usd: r.usd
      }))
    }),

    // ---- LLM layer (issue 4) ------------------------------------------------------------------

    llmOutcomes: Effect.fn("ProgramDatabase.llmOutcomes")(function*(runId, scoreOf) {
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
    }),

    // ---- search (src/population) ----------------------------------------------------------

    recordDescriptor: Effect.fn("ProgramDatabase.recordDescriptor")(function*(id, descriptor) {
      yield* sql`UPDATE programs SET descriptor = ${descriptor} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("record descriptor"))
      )
    }),

    recordMigrants: Effect.fn("ProgramDatabase.recordMigrants")(function*(runId, migrants, at) {
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

    loadSearchState: Effect.fn("ProgramDatabase.loadSearchState")(function*(runId, options) {
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
      const since = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM programs
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
        evaluationsSinceBest: since[0]?.n ?? 0
      }
    }, (effect) => Effect.mapError(effect, dbError("load search state"))),

    paretoFront: Effect.fn("ProgramDatabase.paretoFront")(function*(runId, objectives) {
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs
        WHERE run_id = ${runId} AND status = 'evaluated' ORDER BY score DESC, created_at, id`.pipe(
        Effect.mapError(dbError("read Pareto front"))
      )
      // Oriented so that larger is better; a program missing a metric is left out.
      const points: Array<{ row: ProgramRow; v: Array<number> }> = []
      for (const row of rows) {
        const metrics = row.metrics === null ? {} : JSON.parse(row.metrics) as Record<string, unknown>
        const v = objectives.map((o) => {
          const x = metrics[o.metric]
          return typeof x === "number" && Number.isFinite(x) ? (o.direction === "minimize" ? -x : x) : Number.NaN
        })
        if (v.every(Number.isFinite)) points.push({ row, v })
      }
      const dominates = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
        a.every((x, i) => x >= b[i]!) && a.some((x, i) => x > b[i]!)
      // Sorted by the first objective (best first), a point can only be dominated by earlier ones.
      points.sort((a, b) => b.v[0]! - a.v[0]! || b.v.slice(1).reduce((s, x, i) => s + x - a.v[i + 1]!, 0))
      const front: Array<{ row: ProgramRow; v: Array<number> }> = []
      for (const p of points) if (!front.some((f) => dominates(f.v, p.v))) front.push(p)
      return front.map((f) => toSummary(f.row))
    }),

    // ---- evolve serve (HTTP API, RunManager) ----------------------------------------------

    runOverview: Effect.fn("ProgramDatabase.runOverview")(function*(id) {
      const rows = yield* sql<OverviewRow>`SELECT r.*, ${overviewColumns} FROM runs r WHERE r.id = ${id}`.pipe(
        Effect.mapError(dbError("read run"))
      )
      if (rows.length === 0) return yield* new RunNotFound({ runId: id })
      return toOverview(rows[0]!)
    }),

    listPrograms: Effect.fn("ProgramDatabase.listPrograms")(function*(runId, q) {
      const where = sql.and([
        sql`run_id = ${runId}`,
        ...(q.status !== undefined ? [sql`status = ${q.status}`] : []),
        ...(q.island !== undefined ? [sql`island = ${q.island}`] : [])
      ])
      const dir = q.order === "asc" ? "ASC" : "DESC"
      const order = q.sort === "score"
        ? sql.unsafe(`(score IS NULL), score ${dir}, created_at ${dir}, id ${dir}`)
        : sql.unsafe(`created_at ${dir}, id ${dir}`)
      const total = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM programs WHERE ${where}`
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE ${where}
        ORDER BY ${order} LIMIT ${q.limit} OFFSET ${q.offset}`
      return { total: total[0]?.n ?? 0, items: rows.map(toSummary) }
    }, (effect) => Effect.mapError(effect, dbError("list programs"))),

    lineage: Effect.fn("ProgramDatabase.lineage")(function*(id, maxDepth, maxChildren) {
      const chain = yield* sql<ProgramRow & { depth: number }>`WITH RECURSIVE chain(id, parent_id, depth) AS (
          SELECT id, parent_id, 0 FROM programs WHERE id = ${id}
          UNION ALL
          SELECT p.id, p.parent_id, c.depth + 1 FROM programs p JOIN chain c ON p.id = c.parent_id WHERE c.depth < ${maxDepth}
        )
        SELECT ${summaryColumnsOf("p")}, c.depth FROM chain c JOIN programs p ON p.id = c.id ORDER BY c.depth DESC`.pipe(
        Effect.mapError(dbError("read lineage"))
      )
      const self = chain.find((r) => r.depth === 0)
      if (self === undefined) return yield* new ProgramNotFound({ programId: id })
      const children = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE parent_id = ${id}
        ORDER BY (score IS NULL), score DESC, created_at LIMIT ${maxChildren}`.pipe(Effect.mapError(dbError("read lineage")))
      return {
        ancestors: chain.filter((r) => r.depth > 0).map(toSummary),
        program: toSummary(self),
        children: children.map(toSummary)
      }
    }),

    scoreTimeline: Effect.fn("ProgramDatabase.scoreTimeline")(function*(runId, limit) {
      const rows = yield* sql<{ id: string; evaluated_at: number; score: number | null; status: string }>`
        SELECT id, evaluated_at, score, status FROM (
          SELECT id, evaluated_at, score, status FROM programs
          WHERE run_id = ${runId} AND evaluated_at IS NOT NULL ORDER BY evaluated_at DESC, id DESC LIMIT ${limit}
        ) t ORDER BY evaluated_at, id`.pipe(Effect.mapError(dbError("read score timeline")))
      return rows.map((r) => ({ programId: ProgramId.make(r.id), at: r.evaluated_at, score: r.score, status: r.status as ProgramStatus }))
    }),

    llmCallsForProgram: Effect.fn("ProgramDatabase.llmCallsForProgram")(function*(programId) {
      const rows = yield* sql<{
        id: string
        run_id: string
        program_id: string | null
        model: string
        input_tokens: number
        output_tokens: number
        usd: number
        latency_ms: number
        attempts: number
        outcome: string
        error_kind: string | null
        error_message: string | null
        created_at: number
      }>`SELECT * FROM llm_calls WHERE program_id = ${programId} ORDER BY created_at, id`.pipe(
        Effect.mapError(dbError("read LLM calls"))
      )
      return rows.map((r) => ({
        id: r.id,
        runId: RunId.make(r.run_id),
        programId: r.program_id === null ? null : ProgramId.make(r.program_id),
        model: r.model,
        inputTokens: r.input_tokens,
        outputTokens: r.output_tokens,
        usd: r.usd,
        latencyMs: r.latency_ms,
        attempts: r.attempts,
        outcome: r.outcome === "error" ? "error" as const : "ok" as const,
        errorKind: r.error_kind,
        errorMessage: r.error_message,
        createdAt: r.created_at
      }))
    }),

    appendEvents: Effect.fn("ProgramDatabase.appendEvents")(function*(events) {
      if (events.length === 0) return
      yield* sql`INSERT INTO run_events ${
        sql.insert(events.map((e) => ({ run_id: e.runId, seq: e.seq, at: e.at, type: e.type, data: e.data })))
      }`.pipe(Effect.mapError(dbError("record events")))
    }),

    readEvents: Effect.fn("ProgramDatabase.readEvents")(function*(runId, afterSeq, limit) {
      const rows = yield* sql<{ run_id: string; seq: number; at: number; type: string; data: string }>`
        SELECT run_id, seq, at, type, data FROM run_events WHERE run_id = ${runId} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${limit}`.pipe(Effect.mapError(dbError("read events")))
      return rows.map((r) => ({ runId: RunId.make(r.run_id), seq: r.seq, at: r.at, type: r.type, data: r.data }))
    }),

    lastEventSeq: Effect.fn("ProgramDatabase.lastEventSeq")(function*(runId) {
      const rows = yield* sql<{ seq: number | null }>`SELECT MAX(seq) AS seq FROM run_events WHERE run_id = ${runId}`.pipe(
        Effect.mapError(dbError("read events"))
      )
      return rows[0]?.seq ?? 0
    }),

    setRunHost: Effect.fn("ProgramDatabase.setRunHost")(function*(runId, host) {
      yield* sql`UPDATE runs SET host = ${host} WHERE id = ${runId}`.pipe(Effect.mapError(dbError("update run host")))
    }),

    runsToRecover: Effect.fn("ProgramDatabase.runsToRecover")(function*(host, reason) {
      const rows = yield* sql<RunRow>`SELECT * FROM runs WHERE host = ${host}
        AND (status IN ('running', 'stopping') OR (status = 'interrupted' AND stop_reason = ${reason}))
        ORDER BY created_at`.pipe(Effect.mapError(dbError("find runs to recover")))
      return rows.map(toRun)
    }),

    readLease: Effect.fn("ProgramDatabase.readLease")(function*(runId) {
      const rows = yield* sql<{ lease_owner: string | null; lease_heartbeat_at: number | null }>`SELECT lease_owner,
        lease_heartbeat_at FROM runs WHERE id = ${runId}`.pipe(Effect.mapError(dbError("read run lease")))
      const row = rows[0]
      return row === undefined || row.lease_owner === null
        ? null
        : { owner: row.lease_owner, heartbeatAt: row.lease_heartbeat_at ?? 0 }
    }),

    takeLease: Effect.fn("ProgramDatabase.takeLease")(function*(runId, owner, expected, at) {
      const rows = yield* sql<{ id: string }>`UPDATE runs SET lease_owner = ${owner}, lease_heartbeat_at = ${at}
        WHERE id = ${runId} AND lease_owner IS ${expected} RETURNING id`.pipe(Effect.mapError(dbError("take run lease")))
      return rows.length > 0
    }),

    renewLease: Effect.fn("ProgramDatabase.renewLease")(function*(runId, owner, at) {
      const rows = yield* sql<{ id: string }>`UPDATE runs SET lease_heartbeat_at = ${at}
        WHERE id = ${runId} AND lease_owner = ${owner} RETURNING id`.pipe(Effect.mapError(dbError("renew run lease")))
      return rows.length > 0
    }),

    releaseLease: Effect.fn("ProgramDatabase.releaseLease")(function*(runId, owner) {
      yield* sql`UPDATE runs SET lease_owner = NULL, lease_heartbeat_at = NULL
        WHERE id = ${runId} AND lease_owner = ${owner}`.pipe(Effect.mapError(dbError("release run lease")))
    })
  })
})

// ---- evolve serve helpers ---------------------------------------------------------------------

const summaryColumnList = [
  "id", "run_id", "parent_id", "island", "generation", "code_hash", "status", "metrics", "score", "failure_kind",
  "failure_message", "created_at", "evaluated_at", "eval_ms", "llm_model", "llm_input_tokens", "llm_output_tokens",
  "llm_usd", "llm_latency_ms", "llm_attempts"
]
const summaryColumnsOf = (alias: string) => Statement.unsafeFragment(summaryColumnList.map((c) => `${alias}.${c}`).join(", "))
const summaryColumns = Statement.unsafeFragment(summaryColumnList.join(", "))

const toSummary = (row: Omit<ProgramRow, "code" | "patch" | "feedback">): ProgramSummary => {
  const { code: _code, patch: _patch, feedback: _feedback, ...rest } = toProgram({ ...row, code: "", patch: null, feedback: null })
  return rest
}

type OverviewRow = RunRow & {
  evaluated: number
  failed: number
  pending: number
  best_score: number | null
  input_tokens: number | null
  output_tokens: number | null
  usd: number | null
}

const overviewColumns = Statement.unsafeFragment(`
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status = 'evaluated') AS evaluated,
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status IN ('failed', 'rejected')) AS failed,
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status = 'pending') AS pending,
  (SELECT MAX(score) FROM programs p WHERE p.run_id = r.id AND p.status = 'evaluated') AS best_score,
  (SELECT SUM(input_tokens) FROM llm_calls c WHERE c.run_id = r.id) AS input_tokens,
  (SELECT SUM(output_tokens) FROM llm_calls c WHERE c.run_id = r.id) AS output_tokens,
  (SELECT SUM(usd) FROM llm_calls c WHERE c.run_id = r.id) AS usd`)

const toOverview = (row: OverviewRow): RunOverview => ({
  ...toRun(row),
  evaluated: row.evaluated,
  failed: row.failed,
  pending: row.pending,
  bestScore: row.best_score,
  inputTokens: row.input_tokens ?? 0,
  outputTokens: row.output_tokens ?? 0,
  usd: row.usd ?? 0
})

// ---- end of evolve serve helpers --------------------------------------------------------------


/** SQLite file at `filename` (directory created), WAL, migrations applied. */
export const layer = (filename: string): Layer.Layer<ProgramDatabase, DatabaseError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (filename !== ":memory:") {
      yield* fs.makeDirectory(path.dirname(path.resolve(filename)), { recursive: true }).pipe(
        Effect.mapError((e) => new DatabaseError({ operation: "open database", message: `cannot create the directory for ${filename}: ${e.message}` }))
      )
    }
    const client = SqliteClient.layer({ filename })
    // The generic migrator (same table and steps as SqliteMigrator, whose only addition is a
    // schema dump we do not use and which needs a CommandExecutor).
    const migrated = Layer.effectDiscard(Migrator.make({})({ loader: Migrator.fromRecord(migrations) })).pipe(
      Layer.provideMerge(client)
    )
    return Layer.effect(ProgramDatabase, make).pipe(Layer.provide(migrated))
  })).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)),
    Layer.catchAllCause((cause) =>
      Layer.fail(new DatabaseError({ operation: "open database", message: `cannot open database ${filename}: ${Cause.pretty(cause).split("\n")[0]}`, cause }))
    )
  )
