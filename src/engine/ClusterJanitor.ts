/**
 * Housekeeping of a cluster's database, run by one runner at a time (a cluster singleton):
 * @effect/cluster never deletes processed messages and their replies, and the work queue keeps
 * finished items; left alone, these tables grow with every evaluation. The janitor deletes what
 * is older than a day and done with, queue items of deleted runs, workers long gone, and the
 * evaluator files no run lists any more.
 */
import * as MachineId from "@effect/cluster/MachineId"
import * as Singleton from "@effect/cluster/Singleton"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Duration, Effect, Schedule } from "effect"
import { EvaluatorFileStore } from "../db/EvaluatorFileStore.js"
import { transaction } from "../db/Rows.js"
import { WorkerStore } from "../db/WorkerStore.js"
import { QUEUE_TABLE } from "./EvaluationQueue.js"

export interface Pruned {
  readonly queueItems: number
  readonly messages: number
  readonly replies: number
  readonly workers: number
  readonly evaluatorFiles: number
}

/** Deletes what the cluster is done with and older than `keep`. */
export const prune = (keep: Duration.DurationInput) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const workers = yield* WorkerStore
    const evaluatorFiles = yield* EvaluatorFileStore
    const keepMillis = Duration.toMillis(keep)
    const cutoff = (yield* Clock.currentTimeMillis) - keepMillis
    // The queue's times are the database's own (NOW() / CURRENT_TIMESTAMP).
    const keepSeconds = Math.floor(keepMillis / 1000)
    const queueCutoff = sql.onDialectOrElse({
      pg: () => sql.literal(`NOW() - INTERVAL '${keepSeconds} seconds'`),
      orElse: () => sql.literal(`datetime('now', '-${keepSeconds} seconds')`)
    })
    const yes = sql.onDialectOrElse({ sqlite: () => sql.literal("1"), orElse: () => sql.literal("TRUE") })
    const queue = sql(QUEUE_TABLE)
    // Message ids are snowflakes: their high bits are the time they were made.
    const oldMessages = String(Snowflake.make({ machineId: MachineId.make(0), sequence: 0, timestamp: Math.max(cutoff, Snowflake.constEpochMillis) }))
    const deleted = (rows: ReadonlyArray<unknown>) => rows.length
    const tables = yield* transaction(sql, "prune cluster tables")(Effect.gen(function*() {
      const finished = yield* sql`DELETE FROM ${queue} WHERE completed = ${yes} AND updated_at < ${queueCutoff} RETURNING id`
      // A deleted run's candidates are gone; their queue items would wait for nobody.
      // NOT EXISTS (an anti-join on the programs key), not NOT IN over every program id.
      const orphans = yield* sql`DELETE FROM ${queue}
        WHERE NOT EXISTS (SELECT 1 FROM programs WHERE programs.id = ${queue}.id) RETURNING id`
      const replies = yield* sql`DELETE FROM cluster_replies WHERE request_id IN
        (SELECT id FROM cluster_messages WHERE processed = ${yes} AND id < ${oldMessages}) RETURNING id`
      const messages = yield* sql`DELETE FROM cluster_messages WHERE processed = ${yes} AND id < ${oldMessages} RETURNING id`
      return { queueItems: deleted(finished) + deleted(orphans), messages: deleted(messages), replies: deleted(replies) }
    }))
    return { ...tables, workers: yield* workers.pruneWorkers(cutoff), evaluatorFiles: yield* evaluatorFiles.pruneBlobs } satisfies Pruned
  })

/** The janitor as a cluster singleton: every `every`, prunes what is older than `keep`. */
export const layer = (options: { readonly every?: Duration.DurationInput; readonly keep?: Duration.DurationInput } = {}) =>
  Singleton.make(
    "evolve-janitor",
    prune(options.keep ?? Duration.days(1)).pipe(
      Effect.tap((p) => Effect.logInfo(`cluster janitor: pruned ${p.queueItems} queue items, ${p.messages} messages, ${p.replies} replies, ${p.workers} workers, ${p.evaluatorFiles} evaluator files`)),
      Effect.catchAll((e) => Effect.logWarning(`cluster janitor: ${e.message}`)),
      Effect.repeat(Schedule.spaced(options.every ?? Duration.minutes(10))),
      Effect.asVoid
    )
  )
