/**
 * Hosts many runs in one process (DESIGN §3), sharing one LLM pool and one evaluation pool.
 * It addresses runs by id the way a cluster would: a message for a run it hosts goes to that
 * run's actor (RunProtocol); Resume and Extend of a run it does not host start that run again;
 * other messages for such a run are a conflict. It also numbers and stores every run's events
 * and serves them (replay, then live) to SSE clients.
 */
import {
  Chunk,
  Context,
  Data,
  Effect,
  ExecutionStrategy,
  Exit,
  FiberMap,
  Layer,
  Option,
  PubSub,
  Queue,
  Scope,
  Stream
} from "effect"
import type * as SqlClient from "@effect/sql/SqlClient"
import { EventStore } from "../db/EventStore.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import type { RunOverview } from "../db/Records.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import { SteeringStore } from "../db/SteeringStore.js"
import type { ConfigError, DatabaseError, RunNotFound } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { RunSpec } from "../domain/RunConfig.js"
import type { RunEvent } from "../domain/RunEvent.js"
import { replay, type SteerAction, type SteeringView } from "../domain/Steering.js"
import * as HumanDesk from "../llm/HumanDesk.js"
import type { RunHandle, StartOptions } from "./RunActor.js"
import { sendSteering, type SteerReply } from "./RunClient.js"
import * as RunEvents from "./RunEvents.js"
import type { StoredEvent } from "./RunEvents.js"
import type { RunStats } from "./RunProtocol.js"
import { makeFairPool, RunLimits } from "./RunLimits.js"
import * as RunServices from "./RunServices.js"
import { startRun } from "./startRun.js"

/** Why a hosted run was asked to stop; stored as the run's stop reason once it has stopped. */
export type StopIntent = "pause" | "stop" | "shutdown"

export const stopReasons: Record<StopIntent, string> = {
  pause: "paused",
  stop: "stopped by user",
  shutdown: "server shutdown"
}

const intentOf = (stats: RunStats): StopIntent | null => {
  if (stats.stopReason !== "interrupted") return null
  const found = (Object.keys(stopReasons) as Array<StopIntent>).find((intent) => stopReasons[intent] === stats.stopMessage)
  return found ?? null
}

/** The `runs.host` marker of runs driven by a RunManager (a restarted server resumes only those). */
export const serveHost = "serve"

export type { StoredEvent } from "./RunEvents.js"

export interface RunInfo {
  readonly overview: RunOverview
  /** Live statistics while the run is hosted by this manager. */
  readonly live: Option.Option<RunStats>
  readonly intent: StopIntent | null
}

export class RunConflict extends Data.TaggedError("RunConflict")<{ readonly message: string }> {}

/** A steering action the run refused (an unknown program or hint, a duplicate program…). */
export class SteeringInvalid extends Data.TaggedError("SteeringInvalid")<{ readonly message: string }> {}

/** A refusal of a run's steering message: SteeringRefused is the request's fault, anything else a conflict. */
export const steeringError = (e: { readonly _tag: string; readonly message: string }) =>
  e._tag === "SteeringRefused" ? new SteeringInvalid({ message: e.message }) : new RunConflict({ message: e.message })

export interface RunManagerOptions {
  /** LLM proposals in flight across all hosted runs. */
  readonly llmConcurrency: number
  /** Evaluations in flight across all hosted runs. */
  readonly evaluationConcurrency: number
  /** Resume, at start, the runs this host drove when it stopped (crash or shutdown). */
  readonly resumeOnStart: boolean
  /** Every hosted run writes to this database (overrides the spec's database.path). */
  readonly databasePath: string
  /** How long shutdown waits for runs to drain (their own grace periods apply first). */
  readonly shutdownTimeoutMs?: number | undefined
  /** A run's services (default: RunServices.layer, from its spec). */
  readonly environment?: ((spec: RunSpec) => Layer.Layer<RunServices.RunServices, ConfigError, SqlClient.SqlClient>) | undefined
}

type Failures = DatabaseError | RunNotFound | RunConflict

export class RunManager extends Context.Tag("evolve/RunManager")<RunManager, {
  readonly create: (spec: RunSpec, initialCode: string) => Effect.Effect<RunId, DatabaseError | ConfigError>
  readonly list: Effect.Effect<ReadonlyArray<RunInfo>, DatabaseError>
  readonly get: (id: string) => Effect.Effect<RunInfo, DatabaseError | RunNotFound>
  /** Graceful stop (in-flight evaluations finish, queued candidates stay pending); resumable. */
  readonly pause: (id: string) => Effect.Effect<RunInfo, Failures>
  readonly stop: (id: string) => Effect.Effect<RunInfo, Failures>
  /** Starts a stopped run again, optionally with a new max_evaluations. */
  readonly resume: (id: string, maxEvaluations?: number) => Effect.Effect<RunInfo, Failures | ConfigError>
  /** A new maximum of evaluations: told to the run when it runs here, else the run starts again. */
  readonly extend: (id: string, maxEvaluations: number) => Effect.Effect<RunInfo, Failures | ConfigError>
  readonly setConcurrency: (
    id: string,
    change: { readonly proposals?: number | undefined; readonly evaluations?: number | undefined }
  ) => Effect.Effect<RunInfo, Failures>
  /** A steering action for a run running here (RunConflict otherwise: steering needs a running run). */
  readonly steer: (id: string, action: SteerAction) => Effect.Effect<SteerReply, Failures | SteeringInvalid>
  /** A run's steering state: live while it runs, else as its stored actions left it. */
  readonly steering: (id: string) => Effect.Effect<SteeringView, DatabaseError | RunNotFound>
  /** Prompts of the run's `human` models waiting for a person's answer, oldest first. */
  readonly prompts: (id: string) => Effect.Effect<ReadonlyArray<HumanDesk.HumanPrompt>, DatabaseError | RunNotFound>
  /** A person's answer to a waiting prompt; false when no prompt has that id (any more). */
  readonly answer: (promptId: string, text: string) => Effect.Effect<boolean>
  /** Stored events after `afterSeq`, then live ones; ends when the manager shuts down. */
  readonly events: (id: string, afterSeq: number) => Stream.Stream<StoredEvent, DatabaseError | RunNotFound>
  /** Live statistics of the hosted runs. */
  readonly activeStats: Effect.Effect<ReadonlyArray<RunStats>>
  readonly limits: { readonly llm: number; readonly evaluations: number }
}>() {}

interface Hosted {
  readonly handle: RunHandle
  readonly scope: Scope.CloseableScope
}


export const make = (options: RunManagerOptions) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const eventStore = yield* EventStore
    const queries = yield* RunQueries
    const steeringStore = yield* SteeringStore
    const database = yield* ProgramDatabase.context
    // Runs live in scopes of their own, closed by `shutdown` only after they have stopped gracefully
    // (child scopes of the layer's scope would be closed, interrupting the runs, before it runs).
    const runsScope = yield* Scope.make()
    const limits = RunLimits.of({
      llm: yield* makeFairPool(options.llmConcurrency),
      evaluations: yield* makeFairPool(options.evaluationConcurrency)
    })
    const fibers = yield* FiberMap.make<RunId, void>()
    const active = new Map<RunId, Hosted>()
    const hubs = new Map<RunId, PubSub.PubSub<StoredEvent>>()
    const control = yield* Effect.makeSemaphore(1)
    const environment = options.environment ?? ((spec: RunSpec) => RunServices.layer(spec))
    // Prompts of `human` models wait here for a person (provider: human).
    const desk = yield* HumanDesk.make

    const hubFor = (runId: RunId) =>
      Effect.suspend(() => {
        const hub = hubs.get(runId)
        if (hub !== undefined) return Effect.succeed(hub)
        return Effect.map(PubSub.unbounded<StoredEvent>(), (created) => {
          const existing = hubs.get(runId)
          if (existing !== undefined) return existing
          hubs.set(runId, created)
          return created
        })
      })

    const withDatabase = (spec: RunSpec): RunSpec => ({
      ...spec,
      config: { ...spec.config, database: { path: options.databasePath } }
    })

    /** Records a run's events (batched, numbered), then publishes them; ends when the run has stopped. */
    const supervise = (entry: Hosted, events: Queue.Dequeue<RunEvent>) =>
      Effect.gen(function*() {
        const runId = entry.handle.runId
        const hub = yield* hubFor(runId)
        yield* runs.setRunHost(runId, serveHost).pipe(Effect.ignoreLogged)
        const summary = yield* RunEvents.record(runId, events, entry.handle.await, (batch) => PubSub.publishAll(hub, batch)).pipe(
          Effect.provideService(EventStore, eventStore)
        )
        if (Exit.isFailure(summary)) yield* Effect.logError(`run ${runId} ended with an error`, summary.cause)
      }).pipe(
        Effect.ensuring(Effect.suspend(() => {
          active.delete(entry.handle.runId)
          return Scope.close(entry.scope, Exit.void)
        }))
      )

    /** Starts (or resumes) a run in its own scope, with its own services and the shared limits. */
    const launch = (start: StartOptions) =>
      // Uninterruptible, so a client hanging up mid-request cannot leave a run unsupervised; the
      // run itself starts interruptible, since its fibers inherit that status (also when a layer
      // constructor, which may be uninterruptible, resumes runs at start-up).
      Effect.uninterruptible(Effect.gen(function*() {
        const scope = yield* Scope.fork(runsScope, ExecutionStrategy.sequential)
        const started = yield* Effect.interruptible(Effect.gen(function*() {
          const handle = yield* startRun(start, { services: environment(start.spec) }).pipe(
            Effect.locally(HumanDesk.currentDesk, Option.some(desk)),
            // Another process (a CLI resume, a second server) drives it: a conflict, not an error.
            Effect.catchTag("RunBusy", (busy) => new RunConflict({ message: busy.message })),
            Effect.provideService(RunLimits, limits),
            Effect.provide(database),
            Scope.extend(scope)
          )
          // Subscribe before yielding to anything, so the run's first events are recorded.
          const events = yield* Scope.extend(handle.subscribe, scope)
          return { handle, events }
        })).pipe(Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void))
        const entry: Hosted = { handle: started.handle, scope }
        const runId = started.handle.runId
        active.set(runId, entry)
        yield* FiberMap.run(fibers, runId, Effect.interruptible(supervise(entry, started.events)))
        return runId
      }))

    const liveOf = (runId: RunId) => {
      const entry = active.get(runId)
      return entry === undefined ? Effect.succeed(Option.none<RunStats>()) : Effect.map(entry.handle.stats, Option.some)
    }
    const infoOf = (overview: RunOverview) =>
      Effect.map(liveOf(overview.id), (live): RunInfo => ({
        overview,
        live,
        intent: Option.match(live, { onNone: () => null, onSome: intentOf })
      }))
    const info = (id: string) => Effect.flatMap(queries.runOverview(id), infoOf)

    /** The actor of a run hosted here, or a conflict naming the run's stored status. */
    const hosted = (id: string) =>
      Effect.gen(function*() {
        const overview = yield* queries.runOverview(id)
        const entry = active.get(overview.id)
        if (entry === undefined) {
          return yield* new RunConflict({ message: `run ${overview.id} is not running on this server (status ${overview.status})` })
        }
        return entry.handle
      })

    /** A message the run's actor refuses (it is stopping) is a conflict too. */
    const tell = <A, E extends { readonly message: string }>(id: string, message: (handle: RunHandle) => Effect.Effect<A, E>) =>
      control.withPermits(1)(Effect.gen(function*() {
        const handle = yield* hosted(id)
        yield* message(handle).pipe(Effect.mapError((e) => new RunConflict({ message: e.message })))
        return yield* info(id)
      }))

    const resume = (id: string, maxEvaluations: number | undefined, recovering: boolean) =>
      Effect.gen(function*() {
        const run = yield* runs.getRun(id)
        if (active.has(run.id)) return yield* new RunConflict({ message: `run ${run.id} is already running` })
        if (!recovering && (run.status === "running" || run.status === "stopping")) {
          // Not hosted here but marked active: another process (e.g. `evolve run`) may be driving it.
          return yield* new RunConflict({
            message: `run ${run.id} is marked ${run.status} by another process; stop it there, or resume it with the CLI if that process died`
          })
        }
        const spec = withDatabase(run.spec)
        yield* launch({
          _tag: "Resume",
          runId: run.id,
          spec: maxEvaluations === undefined ? spec : { ...spec, config: { ...spec.config, max_evaluations: maxEvaluations } }
        })
        return yield* info(run.id)
      })

    const shutdown = Effect.gen(function*() {
      for (const entry of active.values()) {
        yield* Effect.ignore(entry.handle.client.Stop({ message: stopReasons.shutdown }))
      }
      // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to cut it.
      yield* FiberMap.awaitEmpty(fibers).pipe(
        Effect.interruptible,
        Effect.timeoutOption(options.shutdownTimeoutMs ?? 30_000),
        Effect.ignore
      )
      yield* Scope.close(runsScope, Exit.void)
      yield* Effect.forEach(hubs.values(), PubSub.shutdown, { discard: true })
    })
    // Added after the FiberMap, so it runs first: runs drain before their fibers are interrupted.
    yield* Effect.addFinalizer(() => shutdown)

    const service = RunManager.of({
      limits: { llm: options.llmConcurrency, evaluations: options.evaluationConcurrency },
      create: (spec, initialCode) =>
        control.withPermits(1)(launch({ _tag: "New", spec: withDatabase(spec), initialCode })).pipe(
          // Nobody else can hold the lease of a run id just made.
          Effect.catchTag("RunConflict", Effect.die)
        ),
      list: Effect.flatMap(queries.listRuns, (overviews) => Effect.forEach(overviews, infoOf)),
      get: info,
      pause: (id) => tell(id, (h) => h.client.Pause()),
      stop: (id) => tell(id, (h) => h.client.Stop({ message: stopReasons.stop })),
      resume: (id, maxEvaluations) => control.withPermits(1)(resume(id, maxEvaluations, false)),
      extend: (id, maxEvaluations) =>
        control.withPermits(1)(Effect.gen(function*() {
          const overview = yield* queries.runOverview(id)
          const entry = active.get(overview.id)
          if (entry === undefined) return yield* resume(overview.id, maxEvaluations, false)
          yield* entry.handle.client.Extend({ max_evaluations: maxEvaluations }).pipe(
            Effect.mapError((e) => new RunConflict({ message: e.message }))
          )
          return yield* info(overview.id)
        })),
      setConcurrency: (id, change) => tell(id, (h) => h.client.SetConcurrency(change)),
      steer: (id, action) =>
        control.withPermits(1)(Effect.flatMap(hosted(id), (h) => Effect.mapError(sendSteering(h.client, action), steeringError))),
      steering: (id) =>
        Effect.gen(function*() {
          const overview = yield* queries.runOverview(id)
          const entry = active.get(overview.id)
          if (entry !== undefined) {
            const live = yield* Effect.option(entry.handle.client.GetSteering())
            if (live._tag === "Some") return live.value
          }
          return replay(yield* steeringStore.list(overview.id))
        }),
      prompts: (id) => Effect.flatMap(queries.runOverview(id), (overview) => desk.pending(overview.id)),
      answer: desk.answer,
      events: (id, afterSeq) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const run = yield* runs.getRun(id)
          const live = yield* PubSub.subscribe(yield* hubFor(run.id)) // before the replay: nothing falls in between
          let last = afterSeq
          const replay = Stream.paginateChunkEffect(afterSeq, (after) =>
            Effect.map(eventStore.readEvents(run.id, after, RunEvents.BATCH), (rows) => [
              Chunk.unsafeFromArray(rows as Array<StoredEvent>),
              rows.length < RunEvents.BATCH ? Option.none() : Option.some(rows[rows.length - 1]!.seq)
            ]))
          return Stream.concat(replay, Stream.fromQueue(live)).pipe(
            Stream.filter((e) => {
              if (e.seq <= last) return false
              last = e.seq
              return true
            })
          )
        })),
      activeStats: Effect.forEach(active.values(), (entry) => entry.handle.stats)
    })

    if (options.resumeOnStart) {
      const recovering = yield* runs.runsToRecover(serveHost, stopReasons.shutdown)
      for (const run of recovering) {
        yield* control.withPermits(1)(resume(run.id, undefined, true)).pipe(
          Effect.tap(() => Effect.logInfo(`resumed run ${run.id}`)),
          Effect.catchAll((e) => Effect.logWarning(`cannot resume run ${run.id}: ${e.message}`))
        )
      }
    }
    return service
  })

export const layer = (options: RunManagerOptions): Layer.Layer<RunManager, DatabaseError, ProgramDatabase.ProgramDatabase | SqlClient.SqlClient> =>
  Layer.scoped(RunManager, make(options))
