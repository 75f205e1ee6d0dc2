/** Run leases: which process drives a run, by compare-and-set with a heartbeat (engine/RunLease). */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { RunLeaseRecord } from "./Records.js"
import { dbError, type Int8, int } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class LeaseStore extends Context.Tag("evolve/LeaseStore")<LeaseStore, {
  /** Who holds the run's lease, and its last heartbeat; null when nobody does. */
  readonly readLease: (runId: RunId) => Effect.Effect<RunLeaseRecord | null, DatabaseError>
  /** Takes the lease if its holder is still `expected` (compare-and-set); false when someone else got there first. */
  readonly takeLease: (runId: RunId, owner: string, expected: string | null, at: number) => Effect.Effect<boolean, DatabaseError>
  /** A heartbeat; false when `owner` no longer holds the lease. */
  readonly renewLease: (runId: RunId, owner: string, at: number) => Effect.Effect<boolean, DatabaseError>
  readonly releaseLease: (runId: RunId, owner: string) => Effect.Effect<void, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return LeaseStore.of({
    readLease: Traced.fn("LeaseStore.readLease")(function*(runId) {
      const rows = yield* sql<{ lease_owner: string | null; lease_heartbeat_at: Int8 | null }>`SELECT lease_owner,
        lease_heartbeat_at FROM runs WHERE id = ${runId}`.pipe(Effect.mapError(dbError("read run lease")))
      const row = rows[0]
      return row === undefined || row.lease_owner === null
        ? null
        : { owner: row.lease_owner, heartbeatAt: int(row.lease_heartbeat_at ?? 0) }
    }),

    takeLease: Traced.fn("LeaseStore.takeLease")(function*(runId, owner, expected, at) {
      const rows = yield* sql<{ id: string }>`UPDATE runs SET lease_owner = ${owner}, lease_heartbeat_at = ${at}
        WHERE id = ${runId} AND ${expected === null ? sql`lease_owner IS NULL` : sql`lease_owner = ${expected}`} RETURNING id`.pipe(Effect.mapError(dbError("take run lease")))
      return rows.length > 0
    }),

    renewLease: Traced.fn("LeaseStore.renewLease")(function*(runId, owner, at) {
      const rows = yield* sql<{ id: string }>`UPDATE runs SET lease_heartbeat_at = ${at}
        WHERE id = ${runId} AND lease_owner = ${owner} RETURNING id`.pipe(Effect.mapError(dbError("renew run lease")))
      return rows.length > 0
    }),

    releaseLease: Traced.fn("LeaseStore.releaseLease")(function*(runId, owner) {
      yield* sql`UPDATE runs SET lease_owner = NULL, lease_heartbeat_at = NULL
        WHERE id = ${runId} AND lease_owner = ${owner}`.pipe(Effect.mapError(dbError("release run lease")))
    })
  })
})

export const layer: Layer.Layer<LeaseStore, never, SqlClient.SqlClient> = Layer.effect(LeaseStore, make)
