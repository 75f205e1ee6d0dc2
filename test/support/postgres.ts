/**
 * The throwaway PostgreSQL of a test run (started by postgresGlobalSetup.ts) as test files use
 * it: a fresh database per call, and `backends` to run the same tests on SQLite and Postgres.
 * Without Postgres the Postgres variants skip with a visible message, unless
 * EVOLVE_REQUIRE_POSTGRES=1 (CI), where they fail.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import * as Db from "../../src/db/ProgramDatabase.js"
import type { DatabaseError } from "../../src/domain/Errors.js"

export type PostgresServer =
  | {
    readonly status: "ready"
    readonly host: string
    readonly port: number
    readonly user: string
    readonly password: string
    readonly dataDir: string
    readonly binDir: string
  }
  | { readonly status: "missing" | "failed"; readonly reason: string }

declare module "vitest" {
  export interface ProvidedContext {
    postgres: PostgresServer
  }
}

export const server: PostgresServer = inject("postgres") ?? { status: "missing", reason: "the Postgres globalSetup did not run" }

export const required = process.env["EVOLVE_REQUIRE_POSTGRES"] === "1"

/** Why the Postgres tests cannot run here, or undefined when they can. */
export const unavailable: string | undefined = server.status === "ready" ? undefined : server.reason

if (unavailable !== undefined && !required) {
  console.warn(`[postgres] Postgres tests SKIPPED: ${unavailable}`)
}

/** The URL of database `database` on the test server (with the password). */
export const urlOf = (database: string) => {
  if (server.status !== "ready") throw new Error(`PostgreSQL is not available: ${server.reason}`)
  return `postgres://${server.user}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${database}`
}

let created = 0

/** A new empty database on the test server; its URL. */
export const freshDatabase: Effect.Effect<string> = Effect.gen(function*() {
  const name = `evolve_test_${process.pid}_${++created}`
  yield* Effect.scoped(Effect.gen(function*() {
    const admin = yield* PgClient.make({ url: Redacted.make(urlOf("postgres")), maxConnections: 1 })
    yield* admin.unsafe(`CREATE DATABASE ${name}`)
  }))
  return urlOf(name)
}).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

export interface Backend {
  readonly name: "sqlite" | "postgres"
  /** Whether the tests of this backend run here (Postgres: the server is up, or required so that they fail). */
  readonly enabled: boolean
  /** A new empty database of this backend: a file under `dir`, or a fresh Postgres database. */
  readonly target: (dir: string) => Effect.Effect<string>
  /** A new empty program database of this backend (SQLite in memory, or a fresh Postgres database). */
  readonly layer: Layer.Layer<Db.ProgramDatabase | SqlClient.SqlClient, DatabaseError>
}

/** SQLite, then Postgres: parametrise database tests with `describe.each(enabledBackends)`. */
export const backends: ReadonlyArray<Backend> = [
  { name: "sqlite", enabled: true, target: (dir) => Effect.succeed(`${dir}/nested/evolve.db`), layer: Db.layer(":memory:") },
  {
    name: "postgres",
    enabled: unavailable === undefined || required,
    target: () => freshDatabase,
    layer: Layer.unwrapEffect(Effect.map(freshDatabase, Db.layer))
  }
]

/** The backends whose tests run here (Postgres skipped, with a message above, when absent and not required). */
export const enabledBackends = backends.filter((b) => b.enabled)
