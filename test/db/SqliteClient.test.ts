/**
 * evolve's SQLite client: the direct (synchronous) statements never land inside a transaction
 * another fiber has open through @effect/sql, their transactions are all-or-nothing, and the hot
 * runner gives the same rows and errors as @effect/sql.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Tracer } from "effect"
import * as SqliteClient from "../../src/db/SqliteClient.js"

const sqlite = SqliteClient.layer(":memory:")

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const direct = yield* SqliteClient.SqliteDirect
  yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)`
  return { sql, direct, hot: SqliteClient.makeRunner(sql, Option.some(direct)) }
})

describe("SqliteClient", () => {
  it.effect("a direct statement waits for a transaction another fiber has open, and survives its rollback", () =>
    Effect.gen(function*() {
      const { direct, sql } = yield* setup
      const begun = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const tx = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t (id, note) VALUES (1, 'rolled back')`
        yield* Deferred.succeed(begun, undefined)
        yield* Deferred.await(release)
        return yield* Effect.fail("abort")
      })).pipe(Effect.exit, Effect.fork)
      yield* Deferred.await(begun)
      const write = yield* direct.use((c) => c.query("INSERT INTO t (id, note) VALUES (2, 'direct')", [])).pipe(Effect.fork)
      yield* Effect.yieldNow()
      // Still waiting: had it run, it would be inside the open transaction and rolled back with it.
      expect(write.unsafePoll()).toBeNull()
      yield* Deferred.succeed(release, undefined)
      expect(Exit.isFailure(yield* Fiber.join(tx))).toBe(true)
      yield* Fiber.join(write)
      expect(yield* sql`SELECT id, note FROM t ORDER BY id`).toEqual([{ id: 2, note: "direct" }])
    }).pipe(Effect.provide(sqlite)))

  it.effect("inside the fiber's own transaction, a direct statement is part of it (no deadlock) and rolls back with it", () =>
    Effect.gen(function*() {
      const { hot, sql } = yield* setup
      const exit = yield* sql.withTransaction(Effect.gen(function*() {
        yield* hot.rows("insert inside", sql`INSERT INTO t (id, note) VALUES (${1}, ${"inside"})`)
        expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 1 }])
        return yield* Effect.fail("abort")
      })).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 0 }])
    }).pipe(Effect.provide(sqlite)))

  it.effect("with tracing on, statements go through @effect/sql and show as spans", () =>
    Effect.gen(function*() {
      const { hot, sql } = yield* setup
      const spans: Array<string> = []
      const base = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, ...rest) => {
          spans.push(name)
          return base.span(name, ...rest)
        },
        context: base.context
      })
      yield* hot.rows("insert traced", sql`INSERT INTO t (id, note) VALUES (${1}, ${"t"})`).pipe(Effect.withTracer(tracer))
      expect(spans).toContain("sql.execute")
      spans.length = 0
      yield* hot.rows("insert untraced", sql`INSERT INTO t (id, note) VALUES (${2}, ${"u"})`).pipe(
        Effect.withTracer(tracer),
        Effect.withTracerEnabled(false)
      )
      expect(spans).toEqual([])
      expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 2 }])
    }).pipe(Effect.provide(sqlite)))

  it.effect("the runner's transaction is all or nothing, and its failure names the operation", () =>
    Effect.gen(function*() {
      const { hot, sql } = yield* setup
      yield* hot.transaction("insert two", [sql`INSERT INTO t (id, note) VALUES (${1}, ${"a"})`, sql`INSERT INTO t (id, note) VALUES (${2}, ${"b"})`])
      const failed = yield* Effect.flip(
        hot.transaction("insert clash", [sql`INSERT INTO t (id, note) VALUES (${3}, ${"c"})`, sql`INSERT INTO t (id, note) VALUES (${1}, ${"again"})`])
      )
      expect(failed._tag).toBe("DatabaseError")
      expect(failed.message).toMatch(/^insert clash: .*UNIQUE constraint failed/)
      expect(yield* hot.rows("read", sql<{ id: number; note: string }>`SELECT id, note FROM t ORDER BY id`)).toEqual([
        { id: 1, note: "a" },
        { id: 2, note: "b" }
      ])
    }).pipe(Effect.provide(sqlite)))

  it.effect("SqlClient.SafeIntegers reads 64-bit integers as BigInt, and only where it is asked for (the cluster's message ids)", () =>
    Effect.gen(function*() {
      const { hot, sql } = yield* setup
      yield* sql`INSERT INTO t (id, note) VALUES (${9_007_199_254_740_993n}, ${"big"})`
      const read = () => sql<{ id: unknown }>`SELECT id FROM t`
      expect(yield* read().pipe(Effect.provideService(SqlClient.SafeIntegers, true))).toEqual([{ id: 9_007_199_254_740_993n }])
      expect(typeof (yield* read())[0]!.id).toBe("number")
      expect(typeof (yield* hot.rows("read", read()))[0]!.id).toBe("number")
    }).pipe(Effect.provide(sqlite)))

  it.effect("RETURNING rows come back from direct updates as from @effect/sql", () =>
    Effect.gen(function*() {
      const { hot, sql } = yield* setup
      yield* sql`INSERT INTO t (id, note) VALUES (7, 'x')`
      const statement = () => sql<{ id: number }>`UPDATE t SET note = ${"y"} WHERE id = ${7} RETURNING id`
      expect(yield* hot.rows("update", statement())).toEqual(yield* statement())
      expect(yield* hot.rows("update none", sql`UPDATE t SET note = ${"z"} WHERE id = ${8} RETURNING id`)).toEqual([])
      expect(yield* hot.rows("insert", sql`INSERT INTO t (id, note) VALUES (${9}, ${null})`)).toEqual([])
    }).pipe(Effect.provide(sqlite)))
})
