/**
 * A run as an `@effect/cluster` entity keyed by run id (DESIGN §8): the run's protocol
 * (RunProtocol) plus `Drive` — start it, persisted — and `EvaluationDone` — a worker committed a
 * result. The runner that owns the run's shard hosts its actor; while the run is active the
 * entity keeps itself alive (`Entity.keepAlive`), so when its runner dies another one activates
 * it, finds the run active in the database and resumes it there.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import { Clock, Effect, Schedule, Schema, Scope } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { RunStore } from "../db/RunStore.js"
import { makeProgramId, makeRunId, ProgramId, RunId } from "../domain/Ids.js"
import { EvaluationOutcomeSchema } from "../domain/Program.js"
import type { RunSpec } from "../domain/RunConfig.js"
import * as HumanDesk from "../llm/HumanDesk.js"
import { ClusterHost, type Hosted } from "./ClusterHost.js"
import * as EvaluatorShipping from "./EvaluatorShipping.js"
import { pendingProgram } from "./Proposal.js"
import { RunNotActive, RunProtocol, RunRefused } from "./RunProtocol.js"

/** Start the run (it exists in the database, with its initial program). */
export const Drive = Rpc.make("Drive", { error: RunRefused }).annotate(ClusterSchema.Persisted, true)

/** A worker committed the result of one of the run's candidates (`outcome`: that result, so the run need not read it back). */
export const EvaluationDone = Rpc.make("EvaluationDone", { payload: { programId: ProgramId, outcome: Schema.optional(EvaluationOutcomeSchema) } })


/** The prompts of the run's `human` models waiting for an answer, on whichever runner hosts it. */
export const GetPrompts = Rpc.make("GetPrompts", { success: Schema.Array(HumanDesk.HumanPrompt) })

/** A person's answer to one of the run's waiting prompts; false when it waits no more. */
export const AnswerPrompt = Rpc.make("AnswerPrompt", { payload: { promptId: Schema.String, text: Schema.String }, success: Schema.Boolean })

export const RunEntity = Entity.fromRpcGroup("EvolutionRun", RunProtocol.add(Drive, EvaluationDone, GetPrompts, AnswerPrompt))

/**
 * Submits a new run to the cluster: stored with its initial program and its evaluator's files (so
 * whichever runner drives it and whichever worker evaluates it, now or after a crash, has all it
 * needs), then driven by its entity.
 */
export const submit = (spec: RunSpec, initialCode: string, options: { readonly wait?: boolean } = {}) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    // Read first: an evaluator directory too big to ship refuses the run before anything is stored.
    const evaluator = yield* EvaluatorShipping.collect(spec.evaluatorPath)
    const runId = yield* makeRunId
    const at = yield* Clock.currentTimeMillis
    yield* runs.createRun(runId, spec, at)
    yield* EvaluatorShipping.save(runId, evaluator)
    const id = yield* makeProgramId
    yield* candidates.insertProgram(
      pendingProgram({ id, runId, parentId: null, island: 0, generation: 0, code: initialCode, createdAt: at, llm: null })
    )
    const client = yield* RunEntity.client
    // Not waiting: the message is stored, and a control process that hosts the run's shard starts it when there is one.
    if (options.wait === false) yield* client(runId).Drive(undefined, { discard: true })
    else yield* client(runId).Drive()
    return runId
  })

export const layer = RunEntity.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const runId = RunId.make(address.entityId)
    const host = yield* ClusterHost
    const scope = yield* Effect.scope
    const starting = yield* Effect.makeSemaphore(1)
    const keepAlive = (enabled: boolean) => Effect.provide(Entity.keepAlive(enabled), entityContext)
    const entityContext = yield* Effect.context<Sharding.Sharding | Entity.CurrentAddress>()
    let hosted: Hosted | undefined

    const refused = (e: { readonly message: string }) => new RunRefused({ runId, message: e.message })
    const notActive = () => new RunNotActive({ runId, message: `run ${runId} is not running` })

    /** The run's actor here, started (or resumed) if it is not running yet. */
    const ensure = () =>
      starting.withPermits(1)(Effect.gen(function*() {
        if (hosted !== undefined) return hosted
        hosted = yield* host.start(runId).pipe(Scope.extend(scope))
        yield* keepAlive(true)
        // When the run ends, the entity may rest: nothing to resume any more — unless the database
        // still says the run is active (its actor died without recording an end, e.g. while
        // Postgres restarted): then it is resumed here.
        yield* hosted!.handle.await.pipe(
          Effect.exit,
          Effect.zipRight(Effect.suspend(() => {
            hosted = undefined
            return revive
          })),
          Effect.forkIn(scope)
        )
        return hosted
      }))

    // Until the process that drove the run lets go of it (its lease), or is presumed dead.
    const retrying = Schedule.spaced("2 seconds").pipe(Schedule.upTo("5 minutes"))
    const revive: Effect.Effect<void> = Effect.gen(function*() {
      const active = yield* host.isActive(runId).pipe(Effect.retry(retrying), Effect.orElseSucceed(() => false))
      if (!active) return yield* keepAlive(false)
      yield* Effect.logWarning(`run ${runId}: its actor ended but the run is still active: resuming it here`)
      // Its lease may still name this process for a while (the actor could not release it).
      yield* Effect.sleep("1 second")
      yield* ensure().pipe(
        Effect.retry(retrying),
        Effect.catchAll((e) => Effect.logWarning(`run ${runId}: not resumed here: ${e.message}`))
      )
    })

    const resumeIfActive = Effect.gen(function*() {
      if (yield* host.isActive(runId)) yield* ensure()
    })

    // A run still active in the database (its runner died, or its shard moved) goes on here.
    // When the shard moved from a live process, that process still holds the run until its entity
    // has stopped: the first try fails with RunBusy, later ones (in the background) succeed.
    if (yield* host.isActive(runId).pipe(Effect.orElseSucceed(() => false))) {
      yield* ensure().pipe(
        Effect.catchAll((first) =>
          Effect.logInfo(`run ${runId}: not resumed here yet (${first.message}); trying again`).pipe(
            // Each try looks again: the run may have ended where it was.
            Effect.zipRight(Effect.retry(resumeIfActive, retrying)),
            Effect.catchAll((e) => Effect.logWarning(`run ${runId}: not resumed here: ${e.message}`)),
            Effect.forkIn(scope)
          )
        )
      )
    }

    return RunEntity.of({
      Drive: () => ensure().pipe(Effect.asVoid, Effect.mapError(refused)),
      Resume: ({ payload }) =>
        Effect.gen(function*() {
          if (hosted !== undefined) return yield* new RunRefused({ runId, message: `run ${runId} is already running` })
          if (payload.max_evaluations !== undefined) yield* host.setMaxEvaluations(runId, payload.max_evaluations)
          yield* ensure()
        }).pipe(Effect.mapError((e) => (e._tag === "RunRefused" ? e : refused(e)))),
      Extend: ({ payload }) =>
        Effect.gen(function*() {
          if (hosted !== undefined) return yield* hosted.handle.client.Extend(payload)
          yield* host.setMaxEvaluations(runId, payload.max_evaluations)
          return yield* (yield* ensure()).handle.stats
        }).pipe(Effect.mapError((e) => (e._tag === "RunRefused" ? e : refused(e)))),
      Stop: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.Stop(payload),
      Pause: () => hosted === undefined ? notActive() : hosted.handle.client.Pause(),
      SetConcurrency: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.SetConcurrency(payload),
      GetStats: () => hosted === undefined ? notActive() : hosted.handle.stats,
      AddHint: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.AddHint(payload),
      ClearHint: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.ClearHint(payload),
      Pin: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.Pin(payload),
      Unpin: () => hosted === undefined ? notActive() : hosted.handle.client.Unpin(),
      Ban: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.Ban(payload),
      Inject: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.Inject(payload),
      SetModelWeight: ({ payload }) => hosted === undefined ? notActive() : hosted.handle.client.SetModelWeight(payload),
      GetSteering: () => hosted === undefined ? notActive() : hosted.handle.client.GetSteering(),
      EvaluationDone: ({ payload }) =>
        hosted === undefined
          ? Effect.void
          : payload.outcome === undefined
          ? hosted.check([payload.programId])
          : hosted.done(payload.programId, payload.outcome),
      GetPrompts: () => host.prompts(runId),
      // Only prompts of this run: an id of another run's prompt on the same desk is not found here.
      AnswerPrompt: ({ payload }) =>
        Effect.flatMap(host.prompts(runId), (waiting) =>
          waiting.some((p) => p.id === payload.promptId) ? host.answer(payload.promptId, payload.text) : Effect.succeed(false))
    })
  }),
  { concurrency: "unbounded" }
)
