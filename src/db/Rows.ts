/** SQL rows and their mapping to domain values, shared by the stores of this folder. */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { Effect, Option, Schema } from "effect"
import { redactDatabaseTarget } from "../domain/DatabaseTarget.js"
import { DatabaseError } from "../domain/Errors.js"
import { ProgramId, RunId } from "../domain/Ids.js"
import type { FailureKind, Metrics, Program, ProgramStatus } from "../domain/Program.js"
import { RunSpec } from "../domain/RunConfig.js"
import type { RunStatus } from "../domain/RunEvent.js"
import { evaluationFailureKinds, type LlmCallRecord, type ProgramSummary, type RunOverview, type RunRecord, type Transcript } from "./Records.js"

/** SqlError's own message is generic ("Failed to execute statement"): name the database's reason too. */
const sqlReason = (error: SqlError.SqlError): string => {
  const inner = error.cause instanceof Error ? error.cause.message : typeof error.cause === "string" ? error.cause : ""
  return inner !== "" && inner !== error.message ? `${error.message}: ${inner}` : error.message
}

export const dbError = (operation: string) => (cause: SqlError.SqlError) =>
  new DatabaseError({ operation, message: `${operation}: ${sqlReason(cause)}`, cause })

/**
 * `sql.withTransaction` with every database failure as a DatabaseError. @effect/sql turns a failed
 * COMMIT or ROLLBACK into a defect, and a full disk makes both fail (SQLite may roll the
 * transaction back itself after SQLITE_FULL, so the library's ROLLBACK finds none): such a defect
 * becomes a failure carrying the first error the transaction met, which names the real cause.
 * A COMMIT SQLite refuses leaves the transaction open on its one connection, so it is rolled back
 * here, as SQLite's documentation asks (Postgres ends a transaction on any COMMIT).
 */
export const transaction = (sql: SqlClient.SqlClient, operation: string) =>
<A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>): Effect.Effect<A, DatabaseError, R> =>
  Effect.suspend(() => {
    let first: SqlError.SqlError | undefined
    const rollbackOnSqlite = sql.onDialectOrElse({ sqlite: () => Effect.ignore(sql.unsafe("ROLLBACK")), orElse: () => Effect.void })
    return sql.withTransaction(Effect.tapError(effect, (error) => Effect.sync(() => first ??= error))).pipe(
      Effect.catchSomeDefect((defect) =>
        defect instanceof SqlError.SqlError
          ? Option.some(Effect.zipRight(first === undefined ? rollbackOnSqlite : Effect.void, Effect.fail(first ?? defect)))
          : Option.none()
      ),
      Effect.mapError(dbError(operation))
    )
  })

/**
 * A BIGINT column (millisecond timestamps) or an aggregate (COUNT, SUM of integers): a number on
 * SQLite, a string on Postgres (node-postgres keeps 64-bit integers exact as text). Every value
 * of this type is read through `int`/`intOrNull`, so both databases give the same JS numbers.
 */
export type Int8 = number | string | bigint

/** A BIGINT or aggregate as a JS number (our values are timestamps and counts, far below 2^53). */
export const int = (value: Int8): number => typeof value === "number" ? value : Number(value)
export const intOrNull = (value: Int8 | null): number | null => value === null ? null : int(value)

const decodeSpec = Schema.decodeUnknownSync(Schema.parseJson(RunSpec))
const encodeSpecJson = Schema.encodeSync(Schema.parseJson(RunSpec))
/** A run's spec as stored: a Postgres URL in it without its password (whoever reads runs reads specs). */
export const encodeSpec = (spec: RunSpec): string =>
  encodeSpecJson({ ...spec, config: { ...spec.config, database: { ...spec.config.database, path: redactDatabaseTarget(spec.config.database.path) } } })

export interface RunRow {
  readonly id: string
  readonly created_at: Int8
  readonly updated_at: Int8
  readonly status: string
  readonly stop_reason: string | null
  readonly spec: string
}

export type ProgramRow = {
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
  readonly created_at: Int8
  readonly evaluated_at: Int8 | null
  readonly eval_ms: number | null
  readonly llm_model: string | null
  readonly llm_input_tokens: number | null
  readonly llm_output_tokens: number | null
  readonly llm_usd: number | null
  readonly llm_latency_ms: number | null
  readonly llm_attempts: number | null
  /** The manifest of a multi-file program (ProgramTrees.ts); absent or null for one file. */
  readonly tree?: string | null | undefined
}

export type LlmCallRow = {
  readonly id: string
  readonly run_id: string
  readonly program_id: string | null
  readonly model: string
  readonly input_tokens: number
  readonly output_tokens: number
  readonly usd: number
  readonly latency_ms: number
  readonly attempts: number
  readonly outcome: string
  readonly error_kind: string | null
  readonly error_message: string | null
  readonly created_at: Int8
  /** NULL on calls stored before migration 0015. */
  readonly purpose: string | null
}

export const toRun = (row: RunRow): RunRecord => ({
  id: RunId.make(row.id),
  createdAt: int(row.created_at),
  updatedAt: int(row.updated_at),
  status: row.status as RunStatus,
  stopReason: row.stop_reason,
  spec: decodeSpec(row.spec)
})

export const toProgram = (row: ProgramRow): Program => ({
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
  createdAt: int(row.created_at),
  evaluatedAt: intOrNull(row.evaluated_at),
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

export const programRow = (p: Program): ProgramRow => ({
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

export const llmCallRow = (c: LlmCallRecord): LlmCallRow => ({
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
  created_at: c.createdAt,
  purpose: c.purpose
})

export const transcriptRow = (t: Transcript) => ({
  program_id: t.programId,
  attempt: t.attempt,
  run_id: t.runId,
  model: t.model,
  system_prompt: t.system,
  user_prompt: t.user,
  response: t.response,
  created_at: t.createdAt
})

export const toLlmCall = (r: LlmCallRow): LlmCallRecord => ({
  id: r.id,
  runId: RunId.make(r.run_id),
  programId: r.program_id === null ? null : ProgramId.make(r.program_id),
  model: r.model,
  inputTokens: r.input_tokens,
  outputTokens: r.output_tokens,
  usd: r.usd,
  latencyMs: r.latency_ms,
  attempts: r.attempts,
  outcome: r.outcome === "error" ? "error" : "ok",
  errorKind: r.error_kind,
  errorMessage: r.error_message,
  createdAt: int(r.created_at),
  purpose: r.purpose === "judge" || r.purpose === "meta_note" || r.purpose === "proposal"
    ? r.purpose
    : r.id.endsWith(".judge") ? "judge" : "proposal"
})

// ---- summaries and overviews (listings) -------------------------------------------------------

const summaryColumnList = [
  "id", "run_id", "parent_id", "island", "generation", "code_hash", "status", "metrics", "score", "failure_kind",
  "failure_message", "created_at", "evaluated_at", "eval_ms", "llm_model", "llm_input_tokens", "llm_output_tokens",
  "llm_usd", "llm_latency_ms", "llm_attempts"
]
export const summaryColumnsOf = (alias: string) =>
  Statement.unsafeFragment(summaryColumnList.map((c) => `${alias}.${c}`).join(", "))
export const summaryColumns = Statement.unsafeFragment(summaryColumnList.join(", "))

export const toSummary = (row: Omit<ProgramRow, "code" | "patch" | "feedback">): ProgramSummary => {
  const { code: _code, patch: _patch, feedback: _feedback, ...rest } = toProgram({ ...row, code: "", patch: null, feedback: null })
  return rest
}

export type OverviewRow = RunRow & {
  evaluated: Int8
  failed: Int8
  evaluations: Int8
  pending: Int8
  best_score: number | null
  input_tokens: Int8 | null
  output_tokens: Int8 | null
  usd: number | null
}

export const overviewColumns = Statement.unsafeFragment(`
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status = 'evaluated') AS evaluated,
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status IN ('failed', 'rejected')) AS failed,
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND (p.status = 'evaluated' OR
    (p.status = 'failed' AND p.failure_kind IN (${evaluationFailureKinds.map((k) => `'${k}'`).join(", ")})))) AS evaluations,
  (SELECT COUNT(*) FROM programs p WHERE p.run_id = r.id AND p.status = 'pending') AS pending,
  (SELECT MAX(score) FROM programs p WHERE p.run_id = r.id AND p.status = 'evaluated') AS best_score,
  (SELECT SUM(input_tokens) FROM llm_calls c WHERE c.run_id = r.id) AS input_tokens,
  (SELECT SUM(output_tokens) FROM llm_calls c WHERE c.run_id = r.id) AS output_tokens,
  (SELECT SUM(usd) FROM llm_calls c WHERE c.run_id = r.id) AS usd`)

export const toOverview = (row: OverviewRow): RunOverview => ({
  ...toRun(row),
  evaluated: int(row.evaluated),
  failed: int(row.failed),
  evaluations: int(row.evaluations),
  pending: int(row.pending),
  bestScore: row.best_score,
  inputTokens: int(row.input_tokens ?? 0),
  outputTokens: int(row.output_tokens ?? 0),
  usd: row.usd ?? 0
})
