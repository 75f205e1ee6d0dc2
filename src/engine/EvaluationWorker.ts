/**
 * An evaluation worker of a cluster (`evolve worker`): K slots, each taking one candidate at a
 * time from the work queue of its tags, evaluating it with its run's evaluator (built once per
 * run on this machine), committing the result — at most once, keyed by candidate id — and
 * telling the run. A worker that dies mid-evaluation stops renewing its lock; the candidate goes
 * to another worker.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import type * as Sharding from "@effect/cluster/Sharding"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Clock, Duration, Effect, Layer, Option, RcMap, Ref } from "effect"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { CandidateStore } from "../db/CandidateStore.js"
import type { EvaluatorFileStore } from "../db/EvaluatorFileStore.js"
import * as ResultNotices from "../db/ResultNotices.js"
import { RunStore } from "../db/RunStore.js"
import type { ConfigError, DatabaseError, RunNotFound } from "../domain/Errors.js"
import type { EvaluationOutcome } from "../domain/Program.js"
import type { RunSpec } from "../domain/RunConfig.js"
import { Evaluator } from "../evaluate/Evaluator.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import * as EvaluationQueue from "./EvaluationQueue.js"
import * as EvaluatorShipping from "./EvaluatorShipping.js"
import { RunEntity } from "./RunEntity.js"

/** Tries of one candidate before it is committed as failed (each a worker that could not finish it). */
export const MAX_ATTEMPTS = 5

export interface WorkerOptions {
  readonly slots: number
  /** This worker serves the runs whose `evaluator.requires` are exactly these tags. */
  readonly tags: ReadonlyArray<string>
  /** Where the evaluator files shipped with runs are written, one directory per content hash. */
  readonly cacheDir: string
  /** How many of those copies the cache keeps (the most recently used; default EvaluatorShipping.DEFAULT_CACHE_KEEP). */
  readonly cacheKeep?: number | undefined
  /**
   * Announce each commit with a Postgres notice (ResultNotices; the run's control process listens)
   * instead of an `EvaluationDone` message: what `evolve worker` does.
   */
  readonly announce?: boolean | undefined
  /** A run's evaluator on this machine (default: its contract, as on one machine). */
  readonly evaluatorFor?: ((spec: RunSpec) => Layer.Layer<Evaluator, ConfigError>) | undefined
}

export interface WorkerCounters {
  readonly busy: number
  readonly done: number
}

/**
 * A run's evaluator on a worker: its contract, sized to this worker's slots (a warm pool starts one
 * interpreter per slot; the run's `concurrency.evaluations` is the in-flight cap of the whole cluster).
 */
const defaultEvaluator = (slots: number) => (spec: RunSpec) =>
  EvaluatorLive.fromConfig(spec.config.evaluator, {
    evaluatorPath: spec.evaluatorPath,
    slots,
    protectedEnv: EvaluatorLive.llmKeyVariables(spec.config.llm)
  }).pipe(Layer.provide(NodeContext.layer))

/** Runs the worker's slots until interrupted; `counters` follows what it does. */
export const run = (options: WorkerOptions, counters: Ref.Ref<WorkerCounters>) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const client = yield* RunEntity.client
    const queue = yield* PersistedQueue.make({ name: EvaluationQueue.queueName(options.tags), schema: EvaluationQueue.EvaluationRequest })
    const evaluatorFor = options.evaluatorFor ?? defaultEvaluator(options.slots)
    // The cached evaluator copies this worker's live evaluators use (name → how many), never evicted.
    const inUse = yield* Ref.make(new Map<string, number>())
    const using = (name: string, delta: number) =>
      Ref.update(inUse, (m) => {
        const next = new Map(m)
        const n = (next.get(name) ?? 0) + delta
        if (n > 0) next.set(name, n)
        else next.delete(name)
        return next
      })
    const evaluators = yield* RcMap.make({
      lookup: (runId: string) =>
        Effect.gen(function*() {
          const run = yield* runs.getRun(runId)
          // The run's evaluator files, from the database into this machine's cache (once per content).
          const local = yield* EvaluatorShipping.localRun(runId, run.spec, options.cacheDir)
          if (Option.isSome(local.copy)) {
            const name = local.copy.value.name
            yield* Effect.acquireRelease(using(name, 1), () => using(name, -1))
            // A new copy may take the cache past its bound: the least recently used ones not in use go.
            const names = new Set((yield* Ref.get(inUse)).keys())
            yield* EvaluatorShipping.prune(options.cacheDir, { keep: options.cacheKeep ?? EvaluatorShipping.DEFAULT_CACHE_KEEP, inUse: names }).pipe(
              Effect.tap((removed) => removed.length > 0 ? Effect.logInfo(`evaluator cache: removed ${removed.length} least recently used copies`) : Effect.void)
            )
          }
          const context = yield* Layer.build(evaluatorFor(local.spec))
          return { evaluator: Effect.provide(Evaluator, context), copy: Option.map(local.copy, (c) => c.dir) }
        }),
      idleTimeToLive: Duration.minutes(1)
    })

    const commit = (request: EvaluationQueue.EvaluationRequest, outcome: EvaluationOutcome) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const notice = options.announce === true ? ResultNotices.payload(request.programId, outcome) : undefined
        if (!(yield* candidates.commitEvaluation(request.programId, outcome, at, notice))) return
        yield* Ref.update(counters, (c) => ({ ...c, done: c.done + 1 }))
        // The run also looks for results itself: a lost notice or message costs it a few seconds, no more.
        if (notice === undefined) {
          yield* client(request.runId).EvaluationDone({ programId: request.programId, outcome }, { discard: true }).pipe(Effect.ignore)
        }
      })

    const evaluate = (request: EvaluationQueue.EvaluationRequest, attempts: number) =>
      Effect.gen(function*() {
        const outcome = yield* Effect.scoped(Effect.gen(function*() {
          const local = yield* RcMap.get(evaluators, request.runId)
          // Each candidate marks its copy used: the recency order the cache's bound follows.
          if (Option.isSome(local.copy)) yield* EvaluatorShipping.touch(local.copy.value).pipe(Effect.ignore)
          const evaluator = yield* local.evaluator
          // Read with its start counted, in one statement; none when committed already (taken twice after a lock expired).
          const program = yield* candidates.startPending(request.programId)
          if (program === undefined) return undefined
          return yield* evaluator.evaluate({ programId: program.id, code: program.code, extension: request.extension })
        })).pipe(
          // The last try of a candidate no worker could evaluate records why, so its run does not wait forever.
          Effect.catchAll((e: ConfigError | DatabaseError | RunNotFound) =>
            attempts + 1 >= MAX_ATTEMPTS
              ? Effect.succeed<EvaluationOutcome>({
                _tag: "Failed",
                failure: { kind: "evaluator_error", message: `no worker could evaluate it: ${e.message}` },
                feedback: null,
                durationMs: 0
              })
              : Effect.fail(e)
          )
        )
        if (outcome !== undefined) yield* commit(request, outcome)
      })

    const slot = queue.take((request, { attempts }) =>
      Effect.acquireUseRelease(
        Ref.update(counters, (c) => ({ ...c, busy: c.busy + 1 })),
        () => evaluate(request, attempts),
        () => Ref.update(counters, (c) => ({ ...c, busy: c.busy - 1 }))
      ), { maxAttempts: MAX_ATTEMPTS }).pipe(
        Effect.catchAll((e) => Effect.logWarning(`evaluation not finished, it will be retried: ${e.message}`)),
        Effect.forever
      )
    yield* Effect.all(Array.from({ length: options.slots }, () => slot), { concurrency: "unbounded", discard: true })
  }) satisfies Effect.Effect<void, DatabaseError, unknown>

export type WorkerRequirements =
  | RunStore
  | CandidateStore
  | EvaluatorFileStore
  | Sharding.Sharding
  | PersistedQueue.PersistedQueueFactory
  | FileSystem.FileSystem
  | Path.Path
