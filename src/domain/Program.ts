import { Schema } from "effect"
import { ProgramId, RunId } from "./Ids.js"
import { LlmUsage } from "./LlmUsage.js"

export const Metrics = Schema.Record({ key: Schema.String, value: Schema.Number })
export type Metrics = typeof Metrics.Type

export const ProgramStatus = Schema.Literal("pending", "evaluated", "failed", "rejected")
export type ProgramStatus = typeof ProgramStatus.Type

/** Why a candidate failed; one word each so failures can be counted by kind. */
export const FailureKind = Schema.Literal(
  "llm", // the LLM call failed after retries
  "patch", // the answer did not apply to the parent
  "invalid", // validation before evaluation refused it
  "duplicate", // identical code already in the run
  "evaluator_error", // evaluator exited non-zero or crashed
  "timeout", // evaluator exceeded its wall-clock limit
  "output_limit", // evaluator printed more than the cap
  "bad_metrics" // no metrics, or metrics that are not finite numbers
)
export type FailureKind = typeof FailureKind.Type

export const Failure = Schema.Struct({ kind: FailureKind, message: Schema.String })
export type Failure = typeof Failure.Type

export { LlmUsage } from "./LlmUsage.js"

export const Program = Schema.Struct({
  id: ProgramId,
  runId: RunId,
  parentId: Schema.NullOr(ProgramId),
  island: Schema.Number,
  generation: Schema.Number,
  code: Schema.String,
  codeHash: Schema.String,
  patch: Schema.NullOr(Schema.String),
  status: ProgramStatus,
  metrics: Schema.NullOr(Metrics),
  score: Schema.NullOr(Schema.Number),
  failure: Schema.NullOr(Failure),
  /** Evaluator feedback kept for the next prompt (stderr tail, text feedback). */
  feedback: Schema.NullOr(Schema.String),
  createdAt: Schema.Number,
  evaluatedAt: Schema.NullOr(Schema.Number),
  evalMs: Schema.NullOr(Schema.Number),
  llm: Schema.NullOr(LlmUsage)
})
export type Program = typeof Program.Type

/** The outcome of evaluating one candidate: either metrics with a score, or a failure. */
export type EvaluationOutcome =
  | {
    readonly _tag: "Scored"
    readonly metrics: Metrics
    readonly score: number
    readonly feedback: string | null
    readonly durationMs: number
  }
  | {
    readonly _tag: "Failed"
    readonly failure: Failure
    readonly feedback: string | null
    readonly durationMs: number
  }

/** EvaluationOutcome as a schema (a worker's report of a committed result, in a cluster message). */
export const EvaluationOutcomeSchema: Schema.Schema<EvaluationOutcome> = Schema.Union(
  Schema.TaggedStruct("Scored", { metrics: Metrics, score: Schema.Number, feedback: Schema.NullOr(Schema.String), durationMs: Schema.Number }),
  Schema.TaggedStruct("Failed", { failure: Failure, feedback: Schema.NullOr(Schema.String), durationMs: Schema.Number })
)
