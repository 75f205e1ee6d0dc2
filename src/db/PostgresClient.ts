/**
 * The program database on PostgreSQL (`--db postgres://…`, DESIGN §8): the `SqlClient` over a
 * connection pool (@effect/sql-pg), its password kept `Redacted`, and what went wrong when it
 * cannot connect as one line that names the cause and never the password. Imported only when a
 * Postgres database is opened, so SQLite users never load the driver.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Duration, Layer, Option, Redacted } from "effect"
import { redactDatabaseTarget, scrubPassword } from "../domain/DatabaseTarget.js"

/** How long opening a connection may take before Postgres counts as unreachable. */
export const connectTimeout = Duration.seconds(5)

/** The client over the database at `url` (its connection checked with one query). */
export const layer = (url: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  PgClient.layer({
    url: Redacted.make(url.trim()),
    connectTimeout,
    applicationName: "evolve",
    // A broken connection fails the statement at hand; the pool opens a new one for the next.
    idleTimeout: Duration.seconds(60)
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
