/** GET /api/workers (WorkersApi): the live workers from the database; none, and no cluster, on SQLite. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect } from "effect"
import { ALIVE_WINDOW_MILLIS, WorkerStore } from "../db/WorkerStore.js"
import { EvolveApi } from "./Api.js"
import { api } from "./ApiCommon.js"

export const WorkersLive = HttpApiBuilder.group(EvolveApi, "workers", (handlers) =>
  Effect.gen(function*() {
    const workers = yield* WorkerStore
    const sql = yield* SqlClient.SqlClient
    // Workers share a Postgres database with the control processes; a SQLite file is one machine's.
    const cluster = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    return handlers.handle("listWorkers", () =>
      api(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const alive = cluster ? yield* workers.aliveWorkers(now - ALIVE_WINDOW_MILLIS) : []
        return {
          cluster,
          now,
          aliveWindowMs: ALIVE_WINDOW_MILLIS,
          workers: alive.map((w) => ({
            id: w.id,
            host: w.host,
            pid: w.pid,
            version: w.version,
            slots: w.slots,
            busy: w.busy,
            done: w.done,
            tags: w.tags,
            capabilities: w.capabilities,
            startedAt: w.startedAt,
            heartbeatAt: w.heartbeatAt
          }))
        }
      })))
  }))
