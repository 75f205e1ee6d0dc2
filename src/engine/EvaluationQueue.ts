/**
 * The work queue between the runs of a cluster and its evaluation workers (DESIGN §8): a
 * persisted queue in the database (`@effect/sql`'s SqlPersistedQueue, whose polls here back off
 * while they find nothing: src/db/SqlQueueStore.ts; FOR UPDATE SKIP LOCKED on Postgres) that
 * workers pull from when they have a free slot. An element names the candidate; its code and the
 * run's evaluator come from the database. Offering the same candidate twice is a no-op (the
 * element id is the candidate id), so a run taken over by another process can offer its pending
 * candidates again.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import { Config, Duration, Effect, Layer, Option, Schema } from "effect"
import * as SqlQueueStore from "../db/SqlQueueStore.js"
import { ProgramId, RunId } from "../domain/Ids.js"

export class EvaluationRequest extends Schema.Class<EvaluationRequest>("EvaluationRequest")({
  runId: RunId,
  programId: ProgramId,
  /** The program file's extension, for evaluators and prompts. */
  extension: Schema.String
}) {}

/** The queue of candidates needing exactly these worker tags (none: any worker). */
export const queueName = (requires: ReadonlyArray<string>) =>
  requires.length === 0 ? "evaluations" : `evaluations:${[...new Set(requires)].sort().join(",")}`

/** Every queue a worker with `tags` can serve: those whose requirements are a subset of its tags. */
export const queuesFor = (tags: ReadonlyArray<string>): ReadonlyArray<string> => {
  const unique = [...new Set(tags)].sort()
  const subsets: Array<Array<string>> = [[]]
  for (const tag of unique) subsets.push(...subsets.map((s) => [...s, tag]))
  return subsets.map(queueName)
}

/** The work queue's table (created by the queue store on first use). */
export const QUEUE_TABLE = "evolve_evaluation_queue"

export interface QueueOptions {
  /** How often a worker with a free slot looks for work while it finds some (the queue's latency floor). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** How often, at least, a worker with a free slot looks while it finds none (polls back off up to this). */
  readonly maxPollInterval?: Duration.DurationInput | undefined
  /** A taken element whose worker stopped renewing its lock for this long is handed to another. */
  readonly lockExpiration?: Duration.DurationInput | undefined
}

/** The longest wait between two polls of a worker with a free slot that finds no work. */
export const DEFAULT_MAX_POLL_INTERVAL = Duration.millis(100)

/** A taken element's lock expiration unless configured: how soon a dead worker's candidate is retried. */
export const DEFAULT_LOCK_EXPIRATION = Duration.seconds(60)

/** The environment variable that sets the lock expiration (a duration: "20 seconds", "2 minutes"). */
export const LOCK_EXPIRATION_ENV = "EVOLVE_QUEUE_LOCK_EXPIRATION"

/** The shortest lock expiration accepted: below it a slow database could let a live worker's lock lapse. */
export const MIN_LOCK_EXPIRATION = Duration.seconds(4)

/**
 * A worker renews the locks of the elements it holds at this interval: a quarter of the
 * expiration (at most 10 s), so a live worker keeps them through three missed renewals (a
 * database restart) and an evaluation of any length is never handed to a second worker.
 */
export const lockRefreshInterval = (lockExpiration: Duration.Duration) =>
  Duration.min(Duration.seconds(10), Duration.unsafeDivide(lockExpiration, 4))

/** The configured lock expiration (EVOLVE_QUEUE_LOCK_EXPIRATION), or the default; a bad value is said and ignored. */
export const configuredLockExpiration: Effect.Effect<Duration.Duration> = Config.option(Config.duration(LOCK_EXPIRATION_ENV)).pipe(
  Effect.flatMap(Option.match({
    onNone: () => Effect.succeed(DEFAULT_LOCK_EXPIRATION),
    onSome: (value) =>
      Duration.lessThan(value, MIN_LOCK_EXPIRATION)
        ? Effect.as(
          Effect.logWarning(`${LOCK_EXPIRATION_ENV}=${Duration.format(value)} is below ${Duration.format(MIN_LOCK_EXPIRATION)}: using ${Duration.format(MIN_LOCK_EXPIRATION)}`),
          MIN_LOCK_EXPIRATION
        )
        : Effect.succeed(value)
  })),
  Effect.catchAll((e) =>
    Effect.as(
      Effect.logWarning(`${LOCK_EXPIRATION_ENV} is not a duration (say "30 seconds"): using ${Duration.format(DEFAULT_LOCK_EXPIRATION)}: ${e.message}`),
      DEFAULT_LOCK_EXPIRATION
    )
  )
)

/**
 * The queue store and factory over the database's SqlClient. A worker renews the locks of the
 * elements it evaluates (see `lockRefreshInterval`); once it is gone they expire after
 * `lockExpiration` (default: EVOLVE_QUEUE_LOCK_EXPIRATION, else 60 s) and another worker takes
 * them. Every process of a cluster should use the same expiration.
 */
export const layer = (options: QueueOptions = {}) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const lockExpiration = options.lockExpiration !== undefined ? Duration.decode(options.lockExpiration) : yield* configuredLockExpiration
    return PersistedQueue.layer.pipe(
      Layer.provide(SqlQueueStore.layerStore({
        tableName: QUEUE_TABLE,
        pollInterval: options.pollInterval ?? Duration.millis(20),
        maxPollInterval: options.maxPollInterval ?? DEFAULT_MAX_POLL_INTERVAL,
        lockRefreshInterval: lockRefreshInterval(lockExpiration),
        lockExpiration
      }))
    )
  }))

/** The queue named `name`, typed. */
export const make = (name: string) => PersistedQueue.make({ name, schema: EvaluationRequest })

/** Offers a candidate for evaluation; a second offer of the same candidate is dropped. */
export const offer = (name: string, request: EvaluationRequest) =>
  Effect.flatMap(make(name), (queue) => queue.offer(request, { id: request.programId }))
