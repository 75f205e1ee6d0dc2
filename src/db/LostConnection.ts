/**
 * Whether a database failure is Postgres going away for a while (a restart, a failover, a cut
 * network): the connection at hand was cut, or no new one could be opened meanwhile. Such a
 * statement may or may not have been done by the server, and the database is back soon; any
 * other failure (a constraint, a full disk, a wrong password) is not retried as one.
 */
import { Duration, Effect, Schedule } from "effect"

/** Postgres' admin-shutdown, crash-shutdown and cannot-connect-now codes; Node's socket errors. */
const codes = new Set(["57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"])

// node-postgres' own words: a connection the server closed ("Connection terminated unexpectedly"),
// one that failed earlier and is reused ("Client has encountered a connection error and is not
// queryable", met inside transactions during `pg_ctl restart`), a connect that timed out.
const messages =
  /terminating connection due to administrator command|Connection terminated|not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i

/** An error of the driver, or one wrapping it (SqlError, DatabaseError), down its `cause` chain. */
export const isLostConnection = (error: unknown): boolean => {
  for (let e = error, depth = 0; e !== null && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string" && codes.has(code)) return true
    const message = (e as { message?: unknown }).message
    if (typeof message === "string" && messages.test(message)) return true
  }
  return false
}

/**
 * Tries a statement again while its failure is a lost connection, for up to `within`: each try
 * takes a fresh connection, which the pool waits for while Postgres restarts. For statements that
 * are safe to repeat (or whose repeat fails harmlessly, as a duplicate key does).
 */
export const retryOnLostConnection = (within: Duration.DurationInput = Duration.seconds(60)) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, { while: isLostConnection, schedule: Schedule.spaced("500 millis").pipe(Schedule.upTo(within)) })
