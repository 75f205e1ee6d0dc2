/** The messages a run's owner fiber (RunActor) reads from its mailbox, and how a broken worker stops the run. */
import { Cause, type Deferred, Effect } from "effect"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import { DatabaseError } from "../domain/Errors.js"
import { isLostConnection } from "../db/LostConnection.js"
import type { SteeringAction } from "../domain/Steering.js"
import type { ProposalOutcome } from "./Proposal.js"
import type * as RunClient from "./RunClient.js"
import type { RunStats, SteeringRefused, StopReason } from "./RunProtocol.js"
import type * as RunState from "./RunState.js"

export type Message =
  | {
    readonly _tag: "Proposed"
    readonly outcome: ProposalOutcome
    readonly reservedUsd: number
    /** The proposal was a paradigm shift (adaptive search). */
    readonly shift?: boolean | undefined
  }
  | {
    readonly _tag: "Evaluated"
    readonly program: Program
    readonly outcome: EvaluationOutcome
    /** Already stored by whoever evaluated it (a cluster worker). */
    readonly committed: boolean
  }
  /** A worker that could not finish: a database error, or a defect (a bug). */
  | { readonly _tag: "Broken"; readonly kind: "proposals" | "evaluations"; readonly cause: Cause.Cause<unknown> }
  | { readonly _tag: "StopRequested"; readonly reason: StopReason; readonly message: string }
  | { readonly _tag: "GraceExpired" }
  | { readonly _tag: "Control"; readonly control: RunClient.Control; readonly reply: Deferred.Deferred<RunStats> }
  | { readonly _tag: "Steer"; readonly action: SteeringAction; readonly reply: Deferred.Deferred<RunClient.SteerReply, SteeringRefused> }
  /** Adaptive search's result of background work (a meta-note), applied by the owner. */
  | { readonly _tag: "Apply"; readonly apply: (state: RunState.RunState) => Effect.Effect<RunState.RunState, DatabaseError> }

export const extensionOf = (path: string) => /\.[A-Za-z0-9]+$/.exec(path)?.[0] ?? ""

/**
 * Why a broken worker stops the run: the first database error, else the defect. A lost connection
 * is handed back as the error itself, for the owner to judge like one of its own statements
 * (`RunActor.dieOnLostConnection`).
 */
export const brokenStop = (cause: Cause.Cause<unknown>): { reason: StopReason; message: string } | DatabaseError => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some" && failure.value instanceof DatabaseError) {
    return isLostConnection(failure.value) ? failure.value : { reason: "database_error", message: failure.value.message }
  }
  return { reason: "internal_error", message: `internal error: ${Cause.pretty(cause).split("\n")[0]}` }
}

/**
 * Runs a proposal or evaluation worker and sends its end to the owner: its message, or "Broken"
 * when it failed. An interrupted worker (the run stopping) reports nothing. `markActive` (given to
 * the body) counts the worker in `activity` while it holds its slot: a count the stats read, kept
 * out of the owner's mailbox, which took a message per worker for it.
 */
export const reportTo = (
  send: (message: Message) => Effect.Effect<unknown>,
  kind: "proposals" | "evaluations",
  activity: RunState.Activity,
  body: (markActive: Effect.Effect<void>) => Effect.Effect<Message, unknown>
): Effect.Effect<void> => {
  let active = false
  const markActive = Effect.sync(() => {
    active = true
    activity[kind]++
  })
  const release = Effect.sync(() => {
    if (active) activity[kind]--
    active = false
  })
  return body(markActive).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.succeed<Message>({ _tag: "Broken", kind, cause })
    ),
    Effect.ensuring(release),
    Effect.flatMap(send),
    Effect.asVoid
  )
}
