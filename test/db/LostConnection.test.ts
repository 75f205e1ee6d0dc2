/**
 * What a Postgres restart does to the statements in flight: each fails as a lost connection (so a
 * cluster's run actor ends and is resumed instead of failing the run), and a statement tried again
 * with `retryOnLostConnection` gets through. On a server of this file's own, restarted (`pg_ctl
 * restart -m fast`, as the cluster's kill test does) while nine fibers run statements and
 * transactions: what the driver says then depends on where each statement was.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Either, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { isLostConnection, retryOnLostConnection } from "../../src/db/LostConnection.js"
import * as PostgresClient from "../../src/db/PostgresClient.js"
import { dbError, transaction } from "../../src/db/Rows.js"
import { DatabaseError } from "../../src/domain/Errors.js"
import { required } from "../support/postgres.js"
import * as PostgresServers from "../support/postgresServer.js"

const wrapped = (cause: unknown) =>
  new DatabaseError({ operation: "insert program", message: "insert program: Failed to execute statement", cause: new SqlError({ cause, message: "Failed to execute statement" }) })

describe("isLostConnection", () => {
  it("knows a cut or unreachable connection down the cause chain, and nothing else", () => {
    const lost = [
      Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }),
      Object.assign(new Error("the database system is starting up"), { code: "57P03" }),
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable")
    ]
    for (const error of lost) expect([error.message, isLostConnection(wrapped(error))]).toEqual([error.message, true])
    const other = [
      Object.assign(new Error("duplicate key value violates unique constraint \"programs_pkey\""), { code: "23505" }),
      Object.assign(new Error("password authentication failed for user \"evolve\""), { code: "28P01" }),
      Object.assign(new Error("could not extend file: No space left on device"), { code: "53100" })
    ]
    for (const error of other) expect([error.message, isLostConnection(wrapped(error))]).toEqual([error.message, false])
    expect(isLostConnection(undefined)).toBe(false)
  })
})

describe.skipIf(!PostgresServers.available() && !required)("statements cut by a Postgres restart", () => {
  let server: PostgresServers.ThrowawayServer | undefined
  beforeAll(async () => {
    // Its own server (the test run's is shared by every file); swept like it if this process dies.
    server = await PostgresServers.start({ prefix: "evolve-pg-server-restart-", password: "restart-test" })
  }, 60_000)
  afterAll(() => server?.stop())

  it("fail as lost connections, and get through when tried again", async () => {
    const restarting = server!
    const program = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (id serial PRIMARY KEY, v text)`.pipe(Effect.mapError(dbError("create")))
      yield* sql`INSERT INTO t (v) VALUES ('first')`.pipe(Effect.mapError(dbError("insert")))
      const failures: Array<DatabaseError> = []
      let running = true
      // The kinds of statement a run makes: reads, a transaction of several, single updates.
      const statement = (i: number) =>
        i % 3 === 0
          ? sql`SELECT pg_sleep(0.005)`.pipe(Effect.mapError(dbError("read")))
          : i % 3 === 1
          ? transaction(sql, "insert")(Effect.zipRight(sql`INSERT INTO t (v) VALUES ('x')`, sql`SELECT count(*) FROM t`))
          : sql`UPDATE t SET v = 'y' WHERE id = 1 RETURNING *`.pipe(Effect.mapError(dbError("update")))
      const busy = (i: number) =>
        Effect.gen(function*() {
          while (running) {
            const result = yield* Effect.either(statement(i))
            if (Either.isLeft(result)) failures.push(result.left)
            else yield* Effect.yieldNow()
          }
        })
      const fibers = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7, 8], (i) => Effect.fork(busy(i)))
      for (let k = 0; k < 3; k++) {
        yield* Effect.sleep(200)
        yield* Effect.promise(() => restarting.restartInBackground())
      }
      running = false
      yield* Fiber.joinAll(fibers)

      // Tried again across a restart, an insert gets through once Postgres is back.
      const restart = yield* Effect.fork(Effect.promise(() => restarting.restartInBackground()))
      let attempts = 0
      const inserted = yield* Effect.suspend(() => {
        attempts++
        // Long enough for the restart to cut it (the first try), short on the second.
        return sql`INSERT INTO t (v) VALUES ('retried') RETURNING id`.pipe(Effect.zipLeft(sql`SELECT pg_sleep(${attempts === 1 ? 5 : 0})`))
      }).pipe(Effect.mapError(dbError("insert")), retryOnLostConnection("30 seconds"))
      yield* Fiber.join(restart)
      const retried = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM t WHERE v = 'retried'`.pipe(Effect.mapError(dbError("count")))
      return { failures, inserted, attempts, retried: retried[0]!.n }
    })
    const { attempts, failures, inserted, retried } = await Effect.runPromise(
      program.pipe(Effect.provide(PostgresClient.layer(restarting.urlOf("postgres"))), Effect.scoped) as Effect.Effect<{
        failures: Array<DatabaseError>
        inserted: ReadonlyArray<unknown>
        attempts: number
        retried: number
      }>
    )
    expect(failures.length).toBeGreaterThan(0)
    expect(failures.filter((e) => !isLostConnection(e)).map((e) => e.message)).toEqual([])
    expect(inserted).toHaveLength(1)
    expect(attempts).toBe(2)
    // Once, or twice when the first try was done before its connection was cut: never lost.
    expect(retried).toBeGreaterThanOrEqual(1)
  }, 60_000)
})
