/**
 * The program database on PostgreSQL (`--db postgres://…`, DESIGN §8): the `SqlClient` over a
 * connection pool (@effect/sql-pg), its password kept `Redacted`, and what went wrong when it
 * cannot connect as one line that names the cause and never the password. Imported only when a
 * Postgres database is opened, so SQLite users never load the driver.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Duration, Effect, Exit, Layer, Option, Schedule } from "effect"
import { redactDatabaseTarget, scrubPassword } from "../domain/DatabaseTarget.js"
import { isLostConnection } from "./LostConnection.js"

/** How long opening a connection may take before Postgres counts as unreachable. */
export const connectTimeout = Duration.seconds(5)

/**
 * How long a process that was connected keeps trying to get a connection while Postgres is away
 * (restarting, failing over) before the statement at hand fails.
 */
export const reconnectWindow = Duration.seconds(60)

interface PoolLike {
  connect: (callback?: (error: Error | undefined, client?: unknown, release?: unknown) => void) => unknown
}

/**
 * A pool whose `connect` (taking a connection, before any statement runs on it, so trying again is
 * safe) waits out a Postgres restart once the pool has been connected: @effect/sql-pg otherwise
 * fails the statement at once ("Failed to acquire connection"), and a run with it. The first
 * connection is not retried: a bad URL, a wrong password or a server down at start are said at once.
 * (Exported for its test.)
 */
export const resilientPool = (Pool: new(options: object) => PoolLike, options: object): PoolLike => {
  let connected = false
  const pool = new Pool(options)
  const connectOnce = pool.connect.bind(pool)
  const attempt = Effect.async<readonly [unknown, unknown], Error>((resume) => {
    connectOnce((error, client, release) => resume(error ? Effect.fail(error) : Effect.succeed([client, release] as const)))
  })
  pool.connect = (callback) => {
    if (callback === undefined) {
      return new Promise((resolve, reject) => pool.connect((error, client) => (error ? reject(error) : resolve(client))))
    }
    // Taken at once in the common case (every statement takes one): no fiber unless it must wait.
    connectOnce((error, client, release) => {
      if (error === undefined || error === null) {
        connected = true
        return callback(undefined, client, release)
      }
      if (!connected || !isLostConnection(error)) return callback(error)
      const retried = attempt.pipe(Effect.retry({ while: isLostConnection, schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo(reconnectWindow)) }))
      Effect.runCallback(retried, {
        onExit: (exit) =>
          Exit.isSuccess(exit) ? callback(undefined, exit.value[0], exit.value[1]) : callback(Cause.squash(exit.cause) as Error)
      })
    })
    return undefined
  }
  return pool
}

/** A node-postgres pool (the parts evolve uses). */
export type Pool = PoolLike & {
  query: (sql: string) => Promise<unknown>
  end: () => Promise<void>
  on: (event: string, f: (client: { on: (event: "error", f: () => void) => void }) => void) => void
}

/** The pool of the database at `url` (not yet connected): resilient, with its error listeners. */
export const openPool = (url: string) =>
  Effect.gen(function*() {
    // The driver @effect/sql-pg is built on, without its own type declarations here.
    const { default: Pg } = yield* Effect.promise(() => import("pg" as string) as Promise<{ default: { Pool: new(options: object) => PoolLike } }>)
    const pool = resilientPool(Pg.Pool, {
      connectionString: url.trim(),
      connectionTimeoutMillis: Duration.toMillis(connectTimeout),
      // A broken connection fails the statement at hand; the pool opens a new one for the next.
      idleTimeoutMillis: Duration.toMillis(Duration.seconds(60)),
      application_name: "evolve"
    }) as Pool
    // An idle connection the server closes is dropped by the pool; nothing to report.
    pool.on("error", () => {})
    // Every connection keeps an error listener for its whole life. node-postgres emits "error" on
    // a connection the server terminates while no statement runs on it (`pg_ctl restart`: 57P01),
    // and an "error" nobody listens to ends the process. A connection some holder has taken out
    // (a reserved one, between listeners of @effect/sql-pg) had none: a control process died on
    // a Postgres restart. The failure still reaches the statements (the connection is marked
    // unusable and the pool drops it); only the crash is gone.
    pool.on("connect", (client) => client.on("error", () => {}))
    return pool
  })

/** The client over the database at `url` (its connection checked with one query). */
export const layer = (url: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  PgClient.layerFromPool({
    applicationName: "evolve",
    acquire: Effect.gen(function*() {
      const pool = yield* openPool(url)
      yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => pool.query("SELECT 1"), catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" }) }),
        () => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
      ).pipe(
        Effect.timeoutFail({
          duration: connectTimeout,
          onTimeout: () => new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
        })
      )
      return pool as never
    })
  })

/** The error codes of node-postgres and Node's sockets, as a user would put them. */
const reasons: Record<string, string> = {
  "28P01": "wrong password (or no such user)",
  "28000": "the server refused this user (pg_hba.conf or no such role)",
  "3D000": "no such database",
  ECONNREFUSED: "connection refused (is PostgreSQL running there?)",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "the host name cannot be resolved now",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable"
}

const errorsIn = (error: unknown): ReadonlyArray<unknown> => {
  const out: Array<unknown> = []
  const visit = (e: unknown, depth: number) => {
    if (depth > 4 || e === null || typeof e !== "object") return
    out.push(e)
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1)
    if ("cause" in e) visit(e.cause, depth + 1)
  }
  visit(error, 0)
  return out
}

/**
 * Why a connection to `target` failed, in one line: the URL redacted, and the password (raw or
 * %-encoded) taken out of anything the driver said.
 */
export const describeFailure = (target: string, cause: Cause.Cause<unknown>): string => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause)) ?? Option.getOrUndefined(Cause.dieOption(cause))
  const errors = errorsIn(failure)
  let reason: string | undefined
  for (const e of errors) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string" && reasons[code] !== undefined) {
      reason = reasons[code]
      if (code === "3D000" || code === "28000") reason = `${reason}: ${scrubPassword(target, (e as Error).message)}`
      break
    }
  }
  if (reason === undefined) {
    const messages = errors.flatMap((e) => (e instanceof Error && e.message !== "" ? [e.message] : []))
    const timedOut = messages.some((m) => /timed? ?out|timeout/i.test(m))
    reason = timedOut
      ? `no answer within ${Duration.format(connectTimeout)} (is the host right and PostgreSQL up?)`
      : scrubPassword(target, messages.at(-1) ?? Cause.pretty(cause).split("\n")[0] ?? "unknown error")
  }
  return `cannot connect to PostgreSQL at ${redactDatabaseTarget(target)}: ${reason.split("\n")[0]}`
}
