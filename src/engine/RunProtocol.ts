/**
 * The messages a run understands (DESIGN §3): an `@effect/rpc` group with Schema payloads,
 * addressed by run id. One process serves it in-process (RunActor, RunManager); a cluster serves
 * the same group as an `@effect/cluster` Entity keyed by run id.
 */
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import { Schema } from "effect"
import { ProgramId, RunId } from "../domain/Ids.js"
import { RunStatus } from "../domain/RunEvent.js"
import { HintText, SteeringView } from "../domain/Steering.js"

export const StopReason = Schema.Literal(
  "max_evaluations",
  "target_score",
  "wall_clock",
  "interrupted",
  "proposal_failures",
  "database_error",
  "internal_error",
  "patience",
  "target_metrics",
  "budget_usd",
  "lease_lost",
  "initial_failed",
  "proposal_limit"
)
export type StopReason = typeof StopReason.Type

/** A run's live figures. */
export class RunStats extends Schema.Class<RunStats>("RunStats")({
  runId: RunId,
  status: RunStatus,
  elapsedMs: Schema.Number,
  /** Evaluations finished, including those of earlier sessions of this run. */
  evaluations: Schema.Number,
  maxEvaluations: Schema.Number,
  scored: Schema.Number,
  failuresByKind: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /** The latest message of each failure kind. */
  lastFailures: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  bestScore: Schema.NullOr(Schema.Number),
  bestProgramId: Schema.NullOr(ProgramId),
  /** LLM calls and evaluations running now; work waiting for a shared (RunManager) permit is not counted. */
  inFlightProposals: Schema.Number,
  inFlightEvaluations: Schema.Number,
  /** Candidates proposed and waiting for an evaluation slot. */
  queued: Schema.Number,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  usd: Schema.Number,
  /** The run's own limits on proposals and evaluations in flight (SetConcurrency changes them). */
  concurrency: Schema.Struct({ proposals: Schema.Number, evaluations: Schema.Number }),
  /** Why the run is stopping or stopped, once it is. */
  stopReason: Schema.NullOr(StopReason),
  stopMessage: Schema.NullOr(Schema.String),
  /** What the run is waiting for that is not its own doing (in a cluster: an evaluation worker). */
  waitingFor: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
}) {}

/** A message for a run that is not running here (nothing to stop, pause or tune). */
export class RunNotActive extends Schema.TaggedError<RunNotActive>()("RunNotActive", {
  runId: RunId,
  message: Schema.String
}) {}

/** A message the run cannot honour in its state (e.g. resuming a run that is running). */
export class RunRefused extends Schema.TaggedError<RunRefused>()("RunRefused", {
  runId: RunId,
  message: Schema.String
}) {}

/**
 * Graceful stop: no new proposals; evaluations in flight get the grace period; queued
 * candidates stay pending; the run stays resumable. `message` is stored as the stop reason.
 */
export const Stop = Rpc.make("Stop", {
  payload: { message: Schema.optional(Schema.String) },
  error: RunNotActive
})

/** A stop that says "paused": the run ends its session and waits for Resume. */
export const Pause = Rpc.make("Pause", { error: RunNotActive })

/** Starts a paused, interrupted or finished run again (optionally with a new maximum). */
export const Resume = Rpc.make("Resume", {
  payload: { max_evaluations: Schema.optional(Schema.Int.pipe(Schema.positive())) },
  error: RunRefused
})

/** More evaluations: raises (or lowers) the maximum; a finished run starts again. */
export const Extend = Rpc.make("Extend", {
  payload: { max_evaluations: Schema.Int.pipe(Schema.positive()) },
  success: RunStats,
  error: RunRefused
})

/** Changes how many proposals (LLM calls) and evaluations the run keeps in flight. */
export const SetConcurrency = Rpc.make("SetConcurrency", {
  payload: {
    proposals: Schema.optional(Schema.Int.pipe(Schema.between(1, 4096))),
    evaluations: Schema.optional(Schema.Int.pipe(Schema.between(1, 4096)))
  },
  success: RunStats,
  error: RunNotActive
})

export const GetStats = Rpc.make("GetStats", { success: RunStats, error: RunNotActive })

// ---- steering (issue 17): each accepted action is stored, published as RunSteered, kept on resume ----

/** A steering action the run cannot take (an unknown program or hint, a duplicate program…). */
export class SteeringRefused extends Schema.TaggedError<SteeringRefused>()("SteeringRefused", {
  runId: RunId,
  message: Schema.String
}) {}

const steeringError = Schema.Union(RunNotActive, SteeringRefused)

/** Guidance for every later prompt, versioned; `replace`: the hints in force leave the guidance first. */
export const AddHint = Rpc.make("AddHint", {
  payload: { text: HintText, replace: Schema.optional(Schema.Boolean) },
  success: SteeringView,
  error: steeringError
})

/** Takes hint `version` out of the guidance (it stays in the history). */
export const ClearHint = Rpc.make("ClearHint", {
  payload: { version: Schema.Int.pipe(Schema.positive()) },
  success: SteeringView,
  error: steeringError
})

/** Parents only from these (scored) programs until Unpin. */
export const Pin = Rpc.make("Pin", {
  payload: { programIds: Schema.NonEmptyArray(ProgramId) },
  success: SteeringView,
  error: steeringError
})

export const Unpin = Rpc.make("Unpin", { success: SteeringView, error: steeringError })

/** Never a parent again. */
export const Ban = Rpc.make("Ban", { payload: { programId: ProgramId }, success: SteeringView, error: steeringError })

export class Injected extends Schema.Class<Injected>("Injected")({ programId: ProgramId, steering: SteeringView }) {}

/** A hand-written candidate: stored pending, evaluated next like any other, its lineage marked human (model "human"). */
export const Inject = Rpc.make("Inject", {
  payload: {
    code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1_000_000)),
    note: Schema.optional(Schema.String.pipe(Schema.maxLength(1000)))
  },
  success: Injected,
  error: steeringError
})

/** A model's share of later proposals (0: not used while another has weight). */
export const SetModelWeight = Rpc.make("SetModelWeight", {
  payload: { model: Schema.String.pipe(Schema.minLength(1)), weight: Schema.Number.pipe(Schema.nonNegative(), Schema.finite()) },
  success: SteeringView,
  error: steeringError
})

export const GetSteering = Rpc.make("GetSteering", { success: SteeringView, error: RunNotActive })

export const RunProtocol = RpcGroup.make(
  Stop,
  Pause,
  Resume,
  Extend,
  SetConcurrency,
  GetStats,
  AddHint,
  ClearHint,
  Pin,
  Unpin,
  Ban,
  Inject,
  SetModelWeight,
  GetSteering
)
