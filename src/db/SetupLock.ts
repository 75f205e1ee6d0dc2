/**
 * One process at a time sets up the shared tables of a Postgres database. Processes joining a
 * cluster on a fresh database together race in @effect/cluster's and SqlPersistedQueue's
 * `CREATE TABLE IF NOT EXISTS` (Postgres reports the loser's table as a duplicate `pg_type` row,
 * and the cluster's storage layers die on it): their setup runs under a session advisory lock
 * on a connection reserved for it, released as soon as the setup is built. SQLite has a single
 * process: nothing to serialise.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer } from "effect"

/**
 * The lock's key, in the two-integer key space ('evol', 1): @effect/cluster's shard locks use
 * single bigint keys, which Postgres keeps apart from two-integer ones.
 */
export const LOCK_KEY = [0x65766f6c, 1] as const

/** `layer`, built while this process holds the database's setup lock (Postgres). */
export const serialized = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R | SqlClient.SqlClient> =>
  Layer.scopedContext(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* Effect.scope
    const build = Layer.buildWithScope(layer, scope)
    return yield* sql.onDialectOrElse({
      pg: () =>
        Effect.scoped(Effect.gen(function*() {
          const connection = yield* Effect.orDie(sql.reserve)
          yield* Effect.acquireRelease(
            Effect.orDie(connection.executeRaw(`SELECT pg_advisory_lock(${LOCK_KEY[0]}, ${LOCK_KEY[1]})`, [])),
            // Closing the connection would release it too; unlocking first frees the others sooner.
            () => Effect.ignore(connection.executeRaw(`SELECT pg_advisory_unlock(${LOCK_KEY[0]}, ${LOCK_KEY[1]})`, []))
          )
          return yield* build
        })),
      orElse: () => build
    })
  }))
