/** A run's events as stored: numbered per run (the SSE event id), each a JSON document. */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import { RunId } from "../domain/Ids.js"
import type { StoredEventRow } from "./Records.js"
import { dbError, type Int8, int } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class EventStore extends Context.Tag("evolve/EventStore")<EventStore, {
  /** Appends stored events in one statement. */
  readonly appendEvents: (events: ReadonlyArray<StoredEventRow>) => Effect.Effect<void, DatabaseError>
  /** Events of a run with seq > afterSeq, in order, at most `limit`. */
  readonly readEvents: (runId: RunId, afterSeq: number, limit: number) => Effect.Effect<ReadonlyArray<StoredEventRow>, DatabaseError>
  readonly lastEventSeq: (runId: RunId) => Effect.Effect<number, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return EventStore.of({
    appendEvents: Traced.fn("EventStore.appendEvents")(function*(events) {
      if (events.length === 0) return
      yield* sql`INSERT INTO run_events ${
        sql.insert(events.map((e) => ({ run_id: e.runId, seq: e.seq, at: e.at, type: e.type, data: e.data })))
      }`.pipe(Effect.mapError(dbError("record events")))
    }),

    readEvents: Traced.fn("EventStore.readEvents")(function*(runId, afterSeq, limit) {
      const rows = yield* sql<{ run_id: string; seq: number; at: Int8; type: string; data: string }>`
        SELECT run_id, seq, at, type, data FROM run_events WHERE run_id = ${runId} AND seq > ${afterSeq}
        ORDER BY seq LIMIT ${limit}`.pipe(Effect.mapError(dbError("read events")))
      return rows.map((r) => ({ runId: RunId.make(r.run_id), seq: r.seq, at: int(r.at), type: r.type, data: r.data }))
    }),

    lastEventSeq: Traced.fn("EventStore.lastEventSeq")(function*(runId) {
      const rows = yield* sql<{ seq: number | null }>`SELECT MAX(seq) AS seq FROM run_events WHERE run_id = ${runId}`.pipe(
        Effect.mapError(dbError("read events"))
      )
      return rows[0]?.seq ?? 0
    })
  })
})

export const layer: Layer.Layer<EventStore, never, SqlClient.SqlClient> = Layer.effect(EventStore, make)
