/** What starting a run gives its caller, and how a run is started. */
import type { Effect, Queue, Scope } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { RunSpec } from "../domain/RunConfig.js"
import type { RunEvent } from "../domain/RunEvent.js"
import type { RunClient } from "./RunClient.js"
import type { RunStats, StopReason } from "./RunProtocol.js"

export interface RunSummary extends RunStats {
  readonly stopReason: StopReason
  readonly message: string | null
}

export interface RunHandle {
  readonly runId: RunId
  /** The run's messages (RunProtocol), answered by its owner fiber. */
  readonly client: RunClient
  /** Live events from now on (subscribe before the events you care about happen). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  /** The latest state's figures, without a round trip through the mailbox. */
  readonly stats: Effect.Effect<RunStats>
  /** Completes when the run has stopped. */
  readonly await: Effect.Effect<RunSummary, DatabaseError>
}

export type StartOptions =
  | { readonly _tag: "New"; readonly spec: RunSpec; readonly initialCode: string }
  | {
    readonly _tag: "Resume"
    readonly runId: RunId
    readonly spec: RunSpec
    /** The initial program, for a run killed after its creation but before that program was stored. */
    readonly initialCode?: string | undefined
  }
