/**
 * The program database on PostgreSQL (`--db postgres://…`, DESIGN §8): the `SqlClient` over a
 * connection pool (@effect/sql-pg), its password kept `Redacted`, and what went wrong when it
 * cannot connect as one line that names the cause and never the password.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Duration, Layer, Option, Redacted } from "effect"
import { redactDatabaseTarget } from "../domain/DatabaseTarget.js"

/** How long opening a connection may take before Postgres counts as unreachable. */
export const connectTimeout = Duration.seconds(5)

/** What is wrong with a Postgres URL before any connection is tried, or undefined when nothing is. */
export const urlProblem = (target: string): string | undefined => {
  let url: URL
  try {
    url = new URL(target.trim())
  } catch {
    return "not a valid URL (expected postgres://user:password@host:port/database)"
  }
  if (url.hostname === "") return "no host (expected postgres://user:password@host:port/database)"
  if (url.port !== "" && !(Number(url.port) >= 1 && Number(url.port) <= 65535)) return `port ${url.port} is out of range`
  try {
    decodeURIComponent(url.password)
    decodeURIComponent(url.username)
  } catch {
    return "its user or password has a bad %-escape"
  }
  return undefined
}

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
  "28P01": "wrong password",
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
 * Why a connection to `target` failed, in one line, with the password (raw or %-encoded) taken
 * out of anything the driver said.
 */
export const describeFailure = (target: string, cause: Cause.Cause<unknown>): string => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause)) ?? Option.getOrUndefined(Cause.dieOption(cause))
  const errors = errorsIn(failure)
  let reason: string | undefined
  for (const e of errors) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string" && reasons[code] !== undefined) {
      reason = reasons[code]
      if (code === "3D000" || code === "28000") reason = `${reason}: ${(e as Error).message}`
      break
    }
  }
  if (reason === undefined) {
    const messages = errors.flatMap((e) => (e instanceof Error && e.message !== "" ? [e.message] : []))
    const timedOut = messages.some((m) => /timed? ?out|timeout/i.test(m))
    reason = timedOut
      ? `no answer within ${Duration.format(connectTimeout)} (is the host right and PostgreSQL up?)`
      : messages.at(-1) ?? Cause.pretty(cause).split("\n")[0] ?? "unknown error"
  }
  return scrubPassword(target, `cannot connect to PostgreSQL at ${redactDatabaseTarget(target)}: ${reason.split("\n")[0]}`)
}

/**
 * `text` with the URL's password, as written and decoded, replaced by `***` (a password of fewer
 * than 4 characters is left: replacing every such fragment would garble the message, and the
 * drivers never quote it).
 */
export const scrubPassword = (target: string, text: string): string => {
  let password = ""
  try {
    password = new URL(target.trim()).password
  } catch {
    return text
  }
  if (password === "") return text
  let decoded = password
  try {
    decoded = decodeURIComponent(password)
  } catch {
    // keep the raw form only
  }
  return [password, decoded].reduce((t, secret) => secret.length < 4 ? t : t.split(secret).join("***"), text)
}
