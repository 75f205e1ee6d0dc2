/**
 * What a cluster runner needs to drive a run its entity was given: the run's services from its
 * stored spec (RunServices), evaluation through the work queue (ClusterDispatch), the run
 * started through `startRun` in the entity's scope, and its events stored for every process that
 * shows them.
 */
import type * as PersistedQueue from "@effect/experimental/PersistedQueue"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Context, type Duration, Effect, Layer, Option, type Scope } from "effect"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import * as ResultNotices from "../db/ResultNotices.js"
import { RunStore } from "../db/RunStore.js"
import type { ConfigError, DatabaseError, RunBusy, RunNotFound } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome } from "../domain/Program.js"
import type { RunSpec } from "../domain/RunConfig.js"
import { Evaluator } from "../evaluate/Evaluator.js"
import * as HumanDesk from "../llm/HumanDesk.js"
import * as ClusterDispatch from "./ClusterDispatch.js"
import type { RunHandle } from "./RunHandle.js"
import * as RunActor from "./RunActor.js"
import * as RunEvents from "./RunEvents.js"
import * as RunLimits from "./RunLimits.js"
import * as RunServices from "./RunServices.js"
import { RunStats } from "./RunProtocol.js"
import { startRun } from "./startRun.js"

/** The `runs.host` marker of runs driven by cluster runners. */
export const clusterHost = "cluster"

export interface Hosted {
  readonly handle: RunHandle
  /** Looks up results its workers committed (the named candidates, or all it waits for). */
  readonly check: (programIds?: ReadonlyArray<ProgramId>) => Effect.Effect<void>
  /** Takes the result a worker committed and reported. */
  readonly done: (programId: ProgramId, outcome: EvaluationOutcome) => Effect.Effect<void>
}

export class ClusterHost extends Context.Tag("evolve/ClusterHost")<ClusterHost, {
  /** Whether the database says the run is active: its entity must drive it (a takeover after a crash). */
  readonly isActive: (runId: RunId) => Effect.Effect<boolean, DatabaseError | RunNotFound>
  /** Starts (or resumes) the run in `scope`. */
  readonly start: (runId: RunId) => Effect.Effect<Hosted, DatabaseError | RunNotFound | RunBusy | ConfigError, Scope.Scope>
  /** A new maximum for a run that is not running, kept in its stored spec. */
  readonly setMaxEvaluations: (runId: RunId, maxEvaluations: number) => Effect.Effect<void, DatabaseError | RunNotFound>
  /** Prompts of the run's `human` models waiting on this runner's desk (the runs it hosts ask here). */
  readonly prompts: (runId: RunId) => Effect.Effect<ReadonlyArray<HumanDesk.HumanPrompt>>
  /** A person's answer to a prompt on this runner's desk; false when it has no such prompt. */
  readonly answer: (promptId: string, text: string) => Effect.Effect<boolean>
}>() {}

export interface ClusterHostOptions {
  /** A run's services (default: RunServices.layer, from its spec, without an evaluator: `noLocalEvaluator`). */
  readonly environment?: ((spec: RunSpec) => Layer.Layer<RunServices.RunServices, ConfigError, SqlClient.SqlClient>) | undefined
  /** How often a run looks for results and live workers itself (default 5 s). */
  readonly checkEvery?: Duration.DurationInput | undefined
}

/**
 * A hosted run's candidates go to the workers (ClusterDispatch), so its control process starts no
 * evaluator of its own: the run's contract would otherwise start here too, e.g. a warm Python pool
 * of one interpreter per in-flight slot that never evaluates anything (measured: ~1 s of CPU at each
 * run's start with 36 slots, plus the interpreters' own).
 */
export const noLocalEvaluator: Layer.Layer<Evaluator> = Layer.succeed(
  Evaluator,
  Evaluator.of({ evaluate: () => Effect.dieMessage("a run hosted in a cluster evaluates through its workers, not in its control process") })
)

export const make = (options: ClusterHostOptions = {}) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const database = yield* ProgramDatabase.context
    const queues = yield* Effect.context<PersistedQueue.PersistedQueueFactory>()
    // Results its workers announce (Postgres); without, they send EvaluationDone messages.
    const notices = Option.getOrUndefined(yield* Effect.serviceOption(ResultNotices.ResultNotices))
    const environment = options.environment ?? ((spec: RunSpec) => RunServices.layer(spec, { evaluator: noLocalEvaluator }))
    const withDatabase = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(queues), Effect.provide(database))
    // Prompts of `human` models of the runs hosted here wait on this desk; any control process
    // reaches them through the run's entity (RunEntity's GetPrompts and AnswerPrompt).
    const desk = yield* HumanDesk.make

    return ClusterHost.of({
      isActive: (runId) => Effect.map(runs.getRun(runId), (run) => run.status === "running" || run.status === "stopping"),
      start: (runId) =>
        withDatabase(Effect.gen(function*() {
          const run = yield* runs.getRun(runId)
          const dispatch = yield* ClusterDispatch.make(runId, { requires: run.spec.config.evaluator.requires, checkEvery: options.checkEvery, notices })
          const handle = yield* startRun(
            { _tag: "Resume", runId: run.id, spec: run.spec },
            { services: environment(run.spec), dispatch: ClusterDispatch.layer(dispatch) }
          ).pipe(
            Effect.provide(RunLimits.unlimited),
            Effect.locally(HumanDesk.currentDesk, Option.some(desk)),
            // A statement cut by a Postgres restart ends the actor; the run's entity resumes it (RunEntity `revive`).
            Effect.locally(RunActor.dieOnLostConnection, true)
          )
          // Subscribed before yielding to anything else, so the run's first events are stored.
          const events = yield* handle.subscribe
          yield* runs.setRunHost(run.id, clusterHost)
          yield* Effect.logInfo(`run ${run.id}: driven by this control process (pid ${process.pid})`)
          yield* Effect.forkScoped(RunEvents.record(run.id, events, handle.await, () => Effect.void))
          // The run's figures say when no worker is there to evaluate its candidates.
          const stats = Effect.zipWith(handle.stats, dispatch.waitingFor, (figures, waitingFor) => new RunStats({ ...figures, waitingFor }))
          return { handle: { ...handle, stats }, check: dispatch.check, done: dispatch.done }
        })),
      setMaxEvaluations: (runId, maxEvaluations) =>
        Effect.gen(function*() {
          const run = yield* runs.getRun(runId)
          const spec = { ...run.spec, config: { ...run.spec.config, max_evaluations: maxEvaluations } }
          yield* runs.setRunSpec(run.id, spec, run.updatedAt)
        }),
      prompts: (runId) => desk.pending(runId),
      answer: desk.answer
    })
  })

export const layer = (options: ClusterHostOptions = {}): Layer.Layer<
  ClusterHost,
  never,
  ProgramDatabase.ProgramDatabase | SqlClient.SqlClient | PersistedQueue.PersistedQueueFactory
> => Layer.effect(ClusterHost, make(options))
