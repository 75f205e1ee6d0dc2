import { Schema } from "effect"
import { ProgramId, RunId } from "./Ids.js"
import { LlmUsage } from "./LlmUsage.js"
import { FailureKind, Metrics } from "./Program.js"

export const RunStatus = Schema.Literal("running", "stopping", "completed", "interrupted", "failed")
export type RunStatus = typeof RunStatus.Type

const base = { runId: RunId, at: Schema.Number }

export class RunStarted extends Schema.TaggedClass<RunStarted>()("RunStarted", {
  ...base,
  resumed: Schema.Boolean,
  evaluated: Schema.Number,
  requeued: Schema.Number
}) {}

export class CandidateProposed extends Schema.TaggedClass<CandidateProposed>()("CandidateProposed", {
  ...base,
  programId: ProgramId,
  parentId: Schema.NullOr(ProgramId),
  model: Schema.String
}) {}

export class CandidateEvaluated extends Schema.TaggedClass<CandidateEvaluated>()("CandidateEvaluated", {
  ...base,
  programId: ProgramId,
  score: Schema.Number,
  metrics: Metrics,
  evalMs: Schema.Number
}) {}

export class CandidateFailed extends Schema.TaggedClass<CandidateFailed>()("CandidateFailed", {
  ...base,
  programId: ProgramId,
  stage: Schema.Literal("propose", "evaluate"),
  kind: FailureKind,
  message: Schema.String
}) {}

export class NewBest extends Schema.TaggedClass<NewBest>()("NewBest", {
  ...base,
  programId: ProgramId,
  score: Schema.Number,
  previous: Schema.NullOr(Schema.Number)
}) {}

export class LlmCallDone extends Schema.TaggedClass<LlmCallDone>()("LlmCallDone", {
  ...base,
  ...LlmUsage.fields
}) {}

export class LlmCallRetried extends Schema.TaggedClass<LlmCallRetried>()("LlmCallRetried", {
  ...base,
  model: Schema.String,
  attempt: Schema.Number,
  reason: Schema.String,
  delayMs: Schema.Number
}) {}

export class LlmCallFailed extends Schema.TaggedClass<LlmCallFailed>()("LlmCallFailed", {
  ...base,
  model: Schema.String,
  reason: Schema.String,
  message: Schema.String
}) {}

export class RunStatusChanged extends Schema.TaggedClass<RunStatusChanged>()("RunStatusChanged", {
  ...base,
  status: RunStatus,
  reason: Schema.String
}) {}

/** A person steered the run (issue 17): the action accepted, numbered per run, and what it did. */
export class RunSteered extends Schema.TaggedClass<RunSteered>()("RunSteered", {
  ...base,
  seq: Schema.Number,
  action: Schema.String,
  summary: Schema.String,
  programId: Schema.NullOr(ProgramId)
}) {}

/** What adaptive search decided (issue 17). */
export const SearchDecisionKind = Schema.Literal("stall_detected", "exploration_changed", "migrated", "shift_proposed", "note_written")
export type SearchDecisionKind = typeof SearchDecisionKind.Type

/** Adaptive search changed course (issue 17): what it decided, for which island (null: the run), and why. */
export class SearchAdapted extends Schema.TaggedClass<SearchAdapted>()("SearchAdapted", {
  ...base,
  kind: SearchDecisionKind,
  island: Schema.NullOr(Schema.Number),
  reason: Schema.String,
  /** The meta-note's text (note_written). */
  note: Schema.optional(Schema.String)
}) {}

export const RunEvent = Schema.Union(
  RunStarted,
  CandidateProposed,
  CandidateEvaluated,
  CandidateFailed,
  NewBest,
  LlmCallDone,
  LlmCallRetried,
  LlmCallFailed,
  RunStatusChanged,
  RunSteered,
  SearchAdapted
)
export type RunEvent = typeof RunEvent.Type
