/**
 * A transaction whose COMMIT or ROLLBACK fails (a full disk does both) ends in a DatabaseError
 * that names the cause, not in a defect: @effect/sql dies on those two statements, and a defect
 * stopped `evolve run` with "internal error" and a stack trace instead of a clear message.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "../../src/db/SqliteClient.js"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { transaction } from "../../src/db/Rows.js"

const sqlite = SqliteClient.layer(":memory:")

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  expect(Cause.isDie(exit.cause)).toBe(false)
  return Cause.squash(exit.cause) as { readonly _tag: string; readonly message: string }
}

describe("transaction", () => {
  it.effect("a COMMIT that fails is a DatabaseError naming the operation and the cause", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // A deferred foreign key is checked at COMMIT: the one statement SQLite refuses is the COMMIT itself.
      yield* sql`PRAGMA foreign_keys = ON`
      yield* sql`CREATE TABLE parent (id INTEGER PRIMARY KEY)`
      yield* sql`CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`
      const exit = yield* Effect.exit(transaction(sql, "insert child")(sql`INSERT INTO child (id, parent) VALUES (1, 42)`))
      const error = failureOf(exit)
      expect(error._tag).toBe("DatabaseError")
      expect(error.message).toMatch(/^insert child: .*FOREIGN KEY constraint failed/)
      // The failed COMMIT left no row behind.
      expect(yield* sql`SELECT COUNT(*) AS n FROM child`).toEqual([{ n: 0 }])
    }).pipe(Effect.provide(sqlite)))

  it.effect("when the database already rolled back (the ROLLBACK fails), the first error is the one reported", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY)`
      const exit = yield* Effect.exit(transaction(sql, "insert rows")(Effect.gen(function*() {
        yield* sql`INSERT INTO t (id) VALUES (1)`
        // What SQLite does by itself after SQLITE_FULL: the transaction is gone before the library's ROLLBACK.
        yield* sql.unsafe("ROLLBACK")
        yield* sql`INSERT INTO t (id) VALUES (1)`
        yield* sql`INSERT INTO t (id) VALUES (1)`
      })))
      const error = failureOf(exit)
      expect(error._tag).toBe("DatabaseError")
      expect(error.message).toMatch(/^insert rows: .*UNIQUE constraint failed/)
    }).pipe(Effect.provide(sqlite)))

  it.effect("a failing statement inside still rolls back and is a DatabaseError", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY)`
      const exit = yield* Effect.exit(transaction(sql, "insert twice")(Effect.gen(function*() {
        yield* sql`INSERT INTO t (id) VALUES (7)`
        yield* sql`INSERT INTO t (id) VALUES (7)`
      })))
      expect(failureOf(exit).message).toMatch(/^insert twice: .*UNIQUE constraint failed/)
      expect(yield* sql`SELECT COUNT(*) AS n FROM t`).toEqual([{ n: 0 }])
      expect(yield* transaction(sql, "insert once")(sql`INSERT INTO t (id) VALUES (8) RETURNING id`)).toEqual([{ id: 8 }])
    }).pipe(Effect.provide(sqlite)))
})
