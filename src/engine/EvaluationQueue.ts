/**
 * The work queue between the runs of a cluster and its evaluation workers (DESIGN §8): a
 * persisted queue in the database (`@effect/sql`'s SqlPersistedQueue: FOR UPDATE SKIP LOCKED on
 * Postgres) that workers pull from when they have a free slot. An element names the candidate;
 * its code and the run's evaluator come from the database. Offering the same candidate twice is
 * a no-op (the element id is the candidate id), so a run taken over by another process can
 * offer its pending candidates again.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as SqlPersistedQueue from "@effect/sql/SqlPersistedQueue"
import { Duration, Effect, Layer, Schema } from "effect"
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

/** The work queue's table (created by SqlPersistedQueue on first use). */
export const QUEUE_TABLE = "evolve_evaluation_queue"

export interface QueueOptions {
  /** How often an idle worker looks for work (the queue's latency floor). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** A taken element whose worker stopped renewing its lock for this long is handed to another. */
  readonly lockExpiration?: Duration.DurationInput | undefined
}

/**
 * The queue store and factory over the database's SqlClient. Locks are refreshed every 10 s
 * while an evaluation runs, and expire after `lockExpiration` (default 60 s) once its worker is
 * gone.
 */
export const layer = (options: QueueOptions = {}) =>
  PersistedQueue.layer.pipe(
    Layer.provide(SqlPersistedQueue.layerStore({
      tableName: QUEUE_TABLE,
      pollInterval: options.pollInterval ?? Duration.millis(20),
      lockRefreshInterval: Duration.seconds(10),
      lockExpiration: options.lockExpiration ?? Duration.seconds(60)
    }))
  )

/** The queue named `name`, typed. */
export const make = (name: string) => PersistedQueue.make({ name, schema: EvaluationRequest })

/** Offers a candidate for evaluation; a second offer of the same candidate is dropped. */
export const offer = (name: string, request: EvaluationRequest) =>
  Effect.flatMap(make(name), (queue) => queue.offer(request, { id: request.programId }))
