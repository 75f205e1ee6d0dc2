/**
 * Evaluation in a cluster: a run's candidates go to the evaluation workers through the database
 * work queue, and each result comes back committed by its worker. A worker tells the run when it
 * has committed one (an `EvaluationDone` message to the run's entity → `check`); the run also
 * looks for results every few seconds itself, so a message lost with its worker costs time,
 * never a candidate.
 */
import { Clock, Deferred, Duration, Effect, Layer, Queue, Ref, Schedule } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { retryOnLostConnection } from "../db/LostConnection.js"
import * as ResultNotices from "../db/ResultNotices.js"
import { ALIVE_WINDOW_MILLIS, WorkerStore } from "../db/WorkerStore.js"
import { DatabaseError } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import { EvaluationDispatch, type Dispatched } from "./EvaluationDispatch.js"
import * as EvaluationQueue from "./EvaluationQueue.js"

/** The result a committed candidate row holds; undefined while it is pending. */
export const outcomeOf = (program: Program): EvaluationOutcome | undefined => {
  const durationMs = program.evalMs ?? 0
  if (program.status === "evaluated" && program.score !== null) {
    return { _tag: "Scored", metrics: program.metrics ?? {}, score: program.score, feedback: program.feedback, durationMs }
  }
  if (program.status === "failed" && program.failure !== null) {
    return { _tag: "Failed", failure: program.failure, feedback: program.feedback, durationMs }
  }
  return undefined
}

export interface ClusterDispatch {
  /** Looks up the named candidates (all waiting ones when none are named) and completes those committed. */
  readonly check: (programIds?: ReadonlyArray<ProgramId>) => Effect.Effect<void>
  /** Completes a candidate with the result its worker committed and reported (no read). */
  readonly done: (programId: ProgramId, outcome: EvaluationOutcome) => Effect.Effect<void>
  /** Why candidates are not being evaluated, when no worker that could take them is alive; null otherwise. */
  readonly waitingFor: Effect.Effect<string | null>
}

/**
 * The dispatch of run `runId` (candidates needing worker tags `requires`), and its `check`.
 * Interrupting an evaluation leaves the candidate in the queue: a worker still evaluates it, and
 * the run, resumed, finds its result.
 */
export const make = (runId: RunId, options: {
  readonly requires: ReadonlyArray<string>
  readonly checkEvery?: Duration.DurationInput | undefined
  /** Results announced by the workers' commits (Postgres): taken from there rather than from messages. */
  readonly notices?: ResultNotices.ResultNotices["Type"] | undefined
}) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const workers = yield* WorkerStore
    const waitingFor = yield* Ref.make<string | null>(null)
    const queue = yield* EvaluationQueue.make(EvaluationQueue.queueName(options.requires))
    const waiting = new Map<ProgramId, Deferred.Deferred<Dispatched>>()

    const check: ClusterDispatch["check"] = (ids) =>
      Effect.suspend(() => {
        const wanted = (ids ?? [...waiting.keys()]).filter((id) => waiting.has(id))
        if (wanted.length === 0) return Effect.void
        return candidates.getPrograms(wanted).pipe(
          Effect.flatMap((rows) =>
            Effect.forEach(rows, (row) => {
              const outcome = outcomeOf(row)
              const deferred = waiting.get(row.id)
              if (outcome === undefined || deferred === undefined) return Effect.void
              waiting.delete(row.id)
              return Deferred.succeed(deferred, { outcome, committed: true })
            }, { discard: true })
          ),
          Effect.catchAll((e) => Effect.logWarning(`run ${runId}: results not checked: ${e.message}`))
        )
      })

    const done: ClusterDispatch["done"] = (id, outcome) =>
      Effect.suspend(() => {
        const deferred = waiting.get(id)
        if (deferred === undefined) return Effect.void
        waiting.delete(id)
        return Deferred.succeed(deferred, { outcome, committed: true })
      })

    const tags = [...options.requires].sort().join(",")
    // Candidates wait in the queue when no worker serving exactly these tags is alive: say so.
    const checkWorkers = Effect.gen(function*() {
      if (waiting.size === 0) return yield* Ref.set(waitingFor, null)
      const now = yield* Clock.currentTimeMillis
      const alive = yield* workers.aliveWorkers(now - ALIVE_WINDOW_MILLIS)
      const serving = alive.filter((w) => [...w.tags].sort().join(",") === tags)
      const notice = serving.length > 0
        ? null
        : `no evaluation worker${tags === "" ? "" : ` with tags ${tags}`} alive: ${waiting.size} candidate${
          waiting.size === 1 ? "" : "s"
        } wait (start one with: evolve worker --db … --slots K${tags === "" ? "" : ` --tags ${tags}`})`
      const before = yield* Ref.getAndSet(waitingFor, notice)
      if (notice !== null && before === null) yield* Effect.logWarning(`run ${runId}: ${notice}`)
      if (notice === null && before !== null) yield* Effect.logInfo(`run ${runId}: an evaluation worker is back`)
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`run ${runId}: workers not checked: ${e.message}`)))

    if (options.notices?.enabled === true) {
      const notices = yield* options.notices.subscribe
      // After a (re)connection, results committed while nobody listened are looked up.
      const take = (notice: ResultNotices.Notice) =>
        notice._tag === "Listening" ? check() : notice.outcome === undefined ? check([notice.programId]) : done(notice.programId, notice.outcome)
      yield* Queue.take(notices).pipe(Effect.flatMap(take), Effect.forever, Effect.forkScoped)
    }

    yield* Effect.zipRight(check(), checkWorkers).pipe(
      Effect.repeat(Schedule.spaced(options.checkEvery ?? Duration.seconds(5))),
      Effect.forkScoped
    )

    const dispatch = EvaluationDispatch.of({
      evaluate: (program, extension, started) =>
        Effect.gen(function*() {
          const deferred = yield* Deferred.make<Dispatched>()
          waiting.set(program.id, deferred)
          // Tried again while Postgres is away (a restart cut the statement): a candidate is offered once whatever the tries.
          yield* queue.offer(new EvaluationQueue.EvaluationRequest({ runId, programId: program.id, extension }), { id: program.id }).pipe(
            retryOnLostConnection(Duration.seconds(20)),
            Effect.mapError((e) => new DatabaseError({ operation: "offer evaluation", message: `offer evaluation: ${e.message}` }))
          )
          yield* started
          return yield* Deferred.await(deferred)
        }).pipe(Effect.ensuring(Effect.sync(() => waiting.delete(program.id))))
    })
    return { dispatch, check, done, waitingFor: Ref.get(waitingFor) } as const
  })

export type Made = Effect.Effect.Success<ReturnType<typeof make>>

/** The dispatch as a layer, for startRun. */
export const layer = (made: Made): Layer.Layer<EvaluationDispatch> => Layer.succeed(EvaluationDispatch, made.dispatch)
