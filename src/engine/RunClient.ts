/**
 * A run's protocol served in-process: an `@effect/rpc` client whose handlers hand each message
 * to the run's owner fiber (through `ask`) and answer GetStats from its latest state.
 */
import * as RpcTest from "@effect/rpc/RpcTest"
import { Effect, type Scope } from "effect"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { SteerAction, SteeringAction, SteeringView } from "../domain/Steering.js"
import { Injected, type RunNotActive, RunProtocol, RunRefused, type RunStats, type SteeringRefused } from "./RunProtocol.js"

/** What the owner fiber is asked to do; it answers with the run's figures afterwards. */
export type Control =
  | { readonly _tag: "Stop"; readonly message: string | null }
  | { readonly _tag: "Extend"; readonly maxEvaluations: number }
  | { readonly _tag: "SetConcurrency"; readonly proposals?: number | undefined; readonly evaluations?: number | undefined }

type Rpcs = typeof RunProtocol extends { readonly requests: ReadonlyMap<string, infer R> } ? R : never

/** The in-process client of a run's protocol. */
export type RunClient = Effect.Effect.Success<ReturnType<typeof RpcTest.makeClient<Rpcs>>>

/** What an accepted steering action leaves: the steering state, and the program an Inject stored. */
export interface SteerReply {
  readonly steering: SteeringView
  readonly programId: ProgramId | null
}

export interface Owner {
  readonly runId: RunId
  /** Hands a message to the owner fiber; RunNotActive once the run is stopping or stopped. */
  readonly ask: (control: Control) => Effect.Effect<RunStats, RunNotActive>
  readonly stats: Effect.Effect<RunStats>
  /** Hands a steering action to the owner fiber, which validates, stores and applies it. */
  readonly steer: (action: SteeringAction) => Effect.Effect<SteerReply, RunNotActive | SteeringRefused>
  readonly steering: Effect.Effect<SteeringView>
}

export const serve = (owner: Owner): Effect.Effect<RunClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { ask, runId } = owner
    const steer = (action: SteeringAction) => Effect.map(owner.steer(action), (r) => r.steering)
    const handlers = yield* RunProtocol.toHandlersContext({
      Stop: ({ message }) => Effect.asVoid(ask({ _tag: "Stop", message: message ?? null })),
      Pause: () => Effect.asVoid(ask({ _tag: "Stop", message: "paused" })),
      Resume: () => new RunRefused({ runId, message: `run ${runId} is already running` }),
      Extend: ({ max_evaluations }) =>
        ask({ _tag: "Extend", maxEvaluations: max_evaluations }).pipe(
          Effect.catchTag("RunNotActive", (e) => new RunRefused({ runId, message: e.message }))
        ),
      SetConcurrency: ({ evaluations, proposals }) => ask({ _tag: "SetConcurrency", proposals, evaluations }),
      GetStats: () => owner.stats,
      AddHint: (payload) => steer({ _tag: "AddHint", ...payload }),
      ClearHint: (payload) => steer({ _tag: "ClearHint", ...payload }),
      Pin: (payload) => steer({ _tag: "Pin", ...payload }),
      Unpin: () => steer({ _tag: "Unpin" }),
      Ban: (payload) => steer({ _tag: "Ban", ...payload }),
      Inject: (payload) =>
        Effect.map(owner.steer({ _tag: "Inject", ...payload }), (r) => new Injected({ programId: r.programId!, steering: r.steering })),
      SetModelWeight: (payload) => steer({ _tag: "SetModelWeight", ...payload }),
      GetSteering: () => owner.steering
    })
    return yield* RpcTest.makeClient(RunProtocol).pipe(Effect.provide(handlers))
  })

/** The steering messages of a run's client: the in-process one, or a cluster entity's. */
export interface SteeringClient<E> {
  readonly AddHint: (payload: { readonly text: string; readonly replace?: boolean | undefined }) => Effect.Effect<SteeringView, E>
  readonly ClearHint: (payload: { readonly version: number }) => Effect.Effect<SteeringView, E>
  readonly Pin: (payload: { readonly programIds: readonly [ProgramId, ...Array<ProgramId>] }) => Effect.Effect<SteeringView, E>
  readonly Unpin: () => Effect.Effect<SteeringView, E>
  readonly Ban: (payload: { readonly programId: ProgramId }) => Effect.Effect<SteeringView, E>
  readonly Inject: (payload: { readonly code: string; readonly note?: string | undefined }) => Effect.Effect<Injected, E>
  readonly SetModelWeight: (payload: { readonly model: string; readonly weight: number }) => Effect.Effect<SteeringView, E>
}

/** Sends a steering action as its message. */
export const sendSteering = <E>(client: SteeringClient<E>, action: SteerAction): Effect.Effect<SteerReply, E> => {
  const view = (effect: Effect.Effect<SteeringView, E>) => Effect.map(effect, (steering): SteerReply => ({ steering, programId: null }))
  switch (action._tag) {
    case "AddHint":
      return view(client.AddHint({ text: action.text, replace: action.replace }))
    case "ClearHint":
      return view(client.ClearHint({ version: action.version }))
    case "Pin":
      return view(client.Pin({ programIds: action.programIds }))
    case "Unpin":
      return view(client.Unpin())
    case "Ban":
      return view(client.Ban({ programId: action.programId }))
    case "Inject":
      return Effect.map(client.Inject({ code: action.code, note: action.note }), (r): SteerReply => ({ steering: r.steering, programId: r.programId }))
    case "SetModelWeight":
      return view(client.SetModelWeight({ model: action.model, weight: action.weight }))
  }
}
