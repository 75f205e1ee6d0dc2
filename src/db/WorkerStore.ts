/**
 * Evaluation workers of a cluster (`evolve worker`): each registers when it starts, beats every few
 * seconds with how busy it is, and says when it stops; the runs and `evolve ls` read who is alive.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import { dbError } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

/** A worker beats this often; one silent for the window is taken as gone. */
export const HEARTBEAT_MILLIS = 5_000
export const ALIVE_WINDOW_MILLIS = 3 * HEARTBEAT_MILLIS

export interface WorkerRecord {
  readonly id: string
  readonly host: string
  readonly pid: number
  /** evolve's version on the worker. */
  readonly version: string
  readonly slots: number
  readonly tags: ReadonlyArray<string>
  /** What the machine can run: "python3", "bwrap", … */
  readonly capabilities: ReadonlyArray<string>
  readonly busy: number
  readonly done: number
  readonly startedAt: number
  readonly heartbeatAt: number
  readonly stoppedAt: number | null
}

type WorkerRow = {
  id: string
  host: string
  pid: number | string
  version: string
  slots: number | string
  tags: string
  capabilities: string
  busy: number | string
  done: number | string
  started_at: number | string
  heartbeat_at: number | string
  stopped_at: number | string | null
}

const toWorker = (r: WorkerRow): WorkerRecord => ({
  id: r.id,
  host: r.host,
  pid: Number(r.pid),
  version: r.version,
  slots: Number(r.slots),
  tags: JSON.parse(r.tags) as Array<string>,
  capabilities: JSON.parse(r.capabilities) as Array<string>,
  busy: Number(r.busy),
  done: Number(r.done),
  startedAt: Number(r.started_at),
  heartbeatAt: Number(r.heartbeat_at),
  stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at)
})

export class WorkerStore extends Context.Tag("evolve/WorkerStore")<WorkerStore, {
  readonly registerWorker: (worker: Omit<WorkerRecord, "busy" | "done" | "stoppedAt">) => Effect.Effect<void, DatabaseError>
  readonly heartbeat: (id: string, figures: { readonly busy: number; readonly done: number }, at: number) => Effect.Effect<void, DatabaseError>
  readonly workerStopped: (id: string, at: number) => Effect.Effect<void, DatabaseError>
  /** Workers that beat since `since` and have not stopped, oldest first. */
  readonly aliveWorkers: (since: number) => Effect.Effect<ReadonlyArray<WorkerRecord>, DatabaseError>
  /** Forgets workers gone (stopped or silent) before `before`. */
  readonly pruneWorkers: (before: number) => Effect.Effect<number, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return WorkerStore.of({
    registerWorker: Traced.fn("WorkerStore.registerWorker")(function*(w) {
      yield* sql`INSERT INTO workers ${
        sql.insert({
          id: w.id,
          host: w.host,
          pid: w.pid,
          version: w.version,
          slots: w.slots,
          tags: JSON.stringify(w.tags),
          capabilities: JSON.stringify(w.capabilities),
          busy: 0,
          done: 0,
          started_at: w.startedAt,
          heartbeat_at: w.heartbeatAt
        })
      }`.pipe(Effect.mapError(dbError("register worker")))
    }),

    heartbeat: Traced.fn("WorkerStore.heartbeat")(function*(id, figures, at) {
      yield* sql`UPDATE workers SET busy = ${figures.busy}, done = ${figures.done}, heartbeat_at = ${at}
        WHERE id = ${id}`.pipe(Effect.mapError(dbError("record worker heartbeat")))
    }),

    workerStopped: Traced.fn("WorkerStore.workerStopped")(function*(id, at) {
      yield* sql`UPDATE workers SET busy = 0, stopped_at = ${at} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("record worker stop"))
      )
    }),

    aliveWorkers: Traced.fn("WorkerStore.aliveWorkers")(function*(since) {
      const rows = yield* sql<WorkerRow>`SELECT * FROM workers WHERE stopped_at IS NULL AND heartbeat_at >= ${since}
        ORDER BY started_at, id`.pipe(Effect.mapError(dbError("list workers")))
      return rows.map(toWorker)
    }),

    pruneWorkers: Traced.fn("WorkerStore.pruneWorkers")(function*(before) {
      const rows = yield* sql<{ id: string }>`DELETE FROM workers
        WHERE COALESCE(stopped_at, heartbeat_at) < ${before} RETURNING id`.pipe(Effect.mapError(dbError("prune workers")))
      return rows.length
    })
  })
})

export const layer: Layer.Layer<WorkerStore, never, SqlClient.SqlClient> = Layer.effect(WorkerStore, make)
