/**
 * vitest globalSetup: one throwaway PostgreSQL 15 for the whole test run (DESIGN §8, issue 16),
 * started by postgresServer.ts; stopped and removed at the end. Test files get a fresh database
 * each through test/support/postgres.ts. Without the binaries the Postgres tests skip (or fail
 * under EVOLVE_REQUIRE_POSTGRES=1): the state is handed over, never thrown here.
 */
import type { TestProject } from "vitest/node"
import type { PostgresServer } from "./postgres.js"
import * as PostgresServers from "./postgresServer.js"

/** The superuser's password: tests check that it appears in no output. */
const password = "pg-test-Secret-7f3a"

const dirPrefix = "evolve-pg-server-"

export default async function setup(project: TestProject) {
  if (!PostgresServers.available()) {
    const state: PostgresServer = { status: "missing", reason: `no PostgreSQL binaries in ${PostgresServers.binDir} (apt-get install postgresql)` }
    project.provide("postgres", state)
    return
  }
  PostgresServers.sweepOrphans(dirPrefix)
  let server: PostgresServers.ThrowawayServer | undefined
  try {
    server = await PostgresServers.start({ prefix: dirPrefix, password })
    const state: PostgresServer = {
      status: "ready",
      host: server.host,
      port: server.port,
      user: server.user,
      password,
      dataDir: server.dataDir,
      binDir: PostgresServers.binDir
    }
    project.provide("postgres", state)
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0]! : String(error)
    project.provide("postgres", { status: "failed", reason: `cannot start PostgreSQL: ${reason}` } satisfies PostgresServer)
  }
  return () => server?.stop()
}
