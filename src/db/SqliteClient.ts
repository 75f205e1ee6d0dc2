/**
 * evolve's SQLite client: @effect/sql's `SqlClient` over one better-sqlite3 connection, plus
 * `SqliteDirect`, synchronous statements for the few a candidate runs every time.
 *
 * The client is @effect/sql-sqlite-node 0.x's `SqliteClient.make` (MIT, Effect-TS/effect, branch
 * v3), cut to what evolve uses (no export, backup or extensions) and with a plain statement cache
 * instead of a TTL `Cache`. What it adds is `SqliteDirect`: through @effect/sql one statement took
 * ~100 runtime steps (compile, span, cache lookup, fiber runtime) and a three-row transaction
 * ~365, a third of evolve's steps per candidate; a direct statement is one step.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import Sqlite from "better-sqlite3"
import { Context, Effect, FiberRef, Layer, Option, Scope } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import { dbError, transaction } from "./Rows.js"

/** Synchronous use of the connection: statements by SQL text, and transactions. */
export interface DirectConnection {
  /** Rows of a statement that returns rows (SELECT, … RETURNING), else []. */
  readonly query: <Row = Record<string, unknown>>(sql: string, params: ReadonlyArray<unknown>) => ReadonlyArray<Row>
  /** `f` in one transaction: committed when it returns, rolled back when it (or the COMMIT) throws. */
  readonly transaction: <A>(f: () => A) => A
}

export class SqliteDirect extends Context.Tag("evolve/SqliteDirect")<SqliteDirect, {
  /** Runs `f` on the connection once no transaction of @effect/sql is open on it (but the calling fiber's own). */
  readonly use: <A>(f: (connection: DirectConnection) => A) => Effect.Effect<A, SqlError>
}>() {}

/**
 * How a store runs its hot statements: written once with @effect/sql's template, run
 * synchronously on SQLite's direct connection when there is one, through @effect/sql otherwise,
 * and also when tracing is on (its spans show each statement).
 */
export const makeRunner = (sql: Client.SqlClient, direct: Option.Option<SqliteDirect["Type"]>) => {
  const directly = <A>(operation: string, viaSql: Effect.Effect<A, DatabaseError>, f: (connection: DirectConnection) => A) =>
    Option.isNone(direct)
      ? viaSql
      : Effect.flatMap(
        FiberRef.get(FiberRef.currentTracerEnabled),
        (traced) => traced ? viaSql : Effect.mapError(direct.value.use(f), dbError(operation))
      )
  return {
    rows: <A extends object>(operation: string, statement: Statement.Statement<A>): Effect.Effect<ReadonlyArray<A>, DatabaseError> =>
      directly(operation, Effect.mapError(statement, dbError(operation)), (connection) => connection.query<A>(...statement.compile())),
    /** The statements in one transaction, in order. */
    transaction: (operation: string, statements: ReadonlyArray<Statement.Statement<object>>): Effect.Effect<void, DatabaseError> =>
      directly(
        operation,
        transaction(sql, operation)(Effect.all(statements, { discard: true })),
        (connection) =>
          connection.transaction(() => {
            for (const statement of statements) connection.query(...statement.compile())
          })
      )
  }
}

/** Prepared statements kept per SQL text; cleared when full (texts are few, `IN (?, …)` lists vary). */
const STATEMENT_CACHE = 500

const executeFailed = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })

const make = (filename: string) =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => new Sqlite(filename), catch: (cause) => new SqlError({ cause, message: "Failed to open database" }) }),
      (db) => Effect.sync(() => db.close())
    )
    db.pragma("journal_mode = WAL")
    const prepared = new Map<string, Sqlite.Statement>()
    const prepare = (sql: string) => {
      let statement = prepared.get(sql)
      if (statement === undefined) {
        if (prepared.size >= STATEMENT_CACHE) prepared.clear()
        statement = db.prepare(sql)
        prepared.set(sql, statement)
      }
      return statement
    }
    /** `safeIntegers`: 64-bit integers as BigInt (@effect/cluster asks for it with `SqlClient.SafeIntegers`). */
    const execute = (statement: Sqlite.Statement, params: ReadonlyArray<unknown>, raw: boolean, safeIntegers: boolean): ReadonlyArray<any> => {
      statement.safeIntegers(safeIntegers)
      if (statement.reader) return statement.all(...params)
      const result = statement.run(...params)
      return raw ? result as unknown as ReadonlyArray<any> : []
    }
    const query = (sql: string, params: ReadonlyArray<unknown>) => execute(prepare(sql), params, false, false)
    const run = (sql: string, params: ReadonlyArray<unknown>, options: { readonly raw?: boolean; readonly unprepared?: boolean } = {}) =>
      Effect.withFiberRuntime<ReadonlyArray<any>, SqlError>((fiber) => {
        try {
          const statement = options.unprepared === true ? db.prepare(sql) : prepare(sql)
          return Effect.succeed(execute(statement, params, options.raw === true, Context.get(fiber.currentContext, Client.SafeIntegers)))
        } catch (cause) {
          return Effect.fail(executeFailed(cause))
        }
      })

    const connection: Connection = {
      execute: (sql, params, transformRows) => transformRows ? Effect.map(run(sql, params), transformRows) : run(sql, params),
      executeRaw: (sql, params) => run(sql, params, { raw: true }),
      executeValues: (sql, params) =>
        Effect.withFiberRuntime<ReadonlyArray<ReadonlyArray<unknown>>, SqlError>((fiber) => {
          try {
            const statement = prepare(sql)
            if (!statement.reader) return Effect.succeed(execute(statement, params, false, false))
            statement.safeIntegers(Context.get(fiber.currentContext, Client.SafeIntegers))
            statement.raw(true)
            try {
              return Effect.succeed(statement.all(...params) as ReadonlyArray<ReadonlyArray<unknown>>)
            } finally {
              statement.raw(false)
            }
          } catch (cause) {
            return Effect.fail(executeFailed(cause))
          }
        }),
      executeUnprepared: (sql, params, transformRows) => {
        const rows = run(sql, params ?? [], { unprepared: true })
        return transformRows ? Effect.map(rows, transformRows) : rows
      },
      executeStream: () => Effect.dieMessage("executeStream not implemented")
    }

    // One connection: a transaction holds it (the permit) from BEGIN to COMMIT; a single statement
    // only waits for a transaction to end.
    const semaphore = yield* Effect.makeSemaphore(1)
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(restore(semaphore.take(1)), Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))),
        connection
      )
    )
    const client = yield* Client.make({
      acquirer,
      compiler: Statement.makeCompilerSqlite(),
      transactionAcquirer,
      spanAttributes: [["db.system.name", "sqlite"]]
    })

    const direct: DirectConnection = {
      query: (sql, params) => query(sql, params),
      transaction: (f) => db.transaction(f)()
    }
    const attempt = <A>(f: (connection: DirectConnection) => A) => Effect.try({ try: () => f(direct), catch: executeFailed })
    // better-sqlite3 is synchronous: `f` runs whole between two steps of any other fiber, so it
    // only has to stay out of a transaction @effect/sql has open across steps, unless that
    // transaction is this fiber's own (then `f` is part of it).
    const use = <A>(f: (connection: DirectConnection) => A) =>
      db.inTransaction
        ? Effect.flatMap(
          Effect.serviceOption(Client.TransactionConnection),
          (own) => Option.isSome(own) ? attempt(f) : semaphore.withPermits(1)(attempt(f))
        )
        : attempt(f)
    return Context.make(Client.SqlClient, client).pipe(Context.add(SqliteDirect, { use }))
  })

/** The SQLite database in `filename` (":memory:" for none), WAL. */
export const layer = (filename: string): Layer.Layer<Client.SqlClient | SqliteDirect, SqlError> =>
  Layer.scopedContext(make(filename)).pipe(Layer.provide(Reactivity.layer))
