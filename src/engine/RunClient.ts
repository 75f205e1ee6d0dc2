/**
 * A run's protocol served in-process: an `@effect/rpc` client whose handlers hand each message
 * to the run's owner fiber (through `ask`) and answer GetStats from its latest state.
 */
import * as RpcTest from "@effect/rpc/RpcTest"
import { Effect, type Scope } from "effect"
import type { RunId } from "../domain/Ids.js"
import { type RunNotActive, RunProtocol, RunRefused, type RunStats } from "./RunProtocol.js"

/** What the owner fiber is asked to do; it answers with the run's figures afterwards. */
export type Control =
  | { readonly _tag: "Stop"; readonly message: string | null }
  | { readonly _tag: "Extend"; readonly maxEvaluations: number }
  | { readonly _tag: "SetConcurrency"; readonly proposals?: number | undefined; readonly evaluations?: number | undefined }

type Rpcs = typeof RunProtocol extends { readonly requests: ReadonlyMap<string, infer R> } ? R : never

/** The in-process client of a run's protocol. */
export type RunClient = Effect.Effect.Success<ReturnType<typeof RpcTest.makeClient<Rpcs>>>

export interface Owner {
  readonly runId: RunId
  /** Hands a message to the owner fiber; RunNotActive once the run is stopping or stopped. */
  readonly ask: (control: Control) => Effect.Effect<RunStats, RunNotActive>
  readonly stats: Effect.Effect<RunStats>
}

export const serve = (owner: Owner): Effect.Effect<RunClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { ask, runId } = owner
    const handlers = yield* RunProtocol.toHandlersContext({
      Stop: ({ message }) => Effect.asVoid(ask({ _tag: "Stop", message: message ?? null })),
      Pause: () => Effect.asVoid(ask({ _tag: "Stop", message: "paused" })),
      Resume: () => new RunRefused({ runId, message: `run ${runId} is already running` }),
      Extend: ({ max_evaluations }) =>
        ask({ _tag: "Extend", maxEvaluations: max_evaluations }).pipe(
          Effect.catchTag("RunNotActive", (e) => new RunRefused({ runId, message: e.message }))
        ),
      SetConcurrency: ({ evaluations, proposals }) => ask({ _tag: "SetConcurrency", proposals, evaluations }),
      GetStats: () => owner.stats
    })
    return yield* RpcTest.makeClient(RunProtocol).pipe(Effect.provide(handlers))
  })
