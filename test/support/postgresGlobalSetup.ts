/**
 * vitest globalSetup: one throwaway PostgreSQL 15 for the whole test run (DESIGN §8, issue 16):
 * `initdb` + `pg_ctl` (as the postgres user when run as root), on 127.0.0.1, a free port, a temp
 * dir, password authentication over TCP; stopped and removed at the end. Test files get a fresh
 * database each through test/support/postgres.ts. Without the binaries the Postgres tests skip
 * (or fail under EVOLVE_REQUIRE_POSTGRES=1): the state is handed over, never thrown here.
 */
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import type { PostgresServer } from "./postgres.js"

const binDir = process.env["EVOLVE_POSTGRES_BIN"] ?? "/usr/lib/postgresql/15/bin"
/** The superuser's password: tests check that it appears in no output. */
const password = "pg-test-Secret-7f3a"

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

/** Runs a Postgres binary as the postgres user when we are root (initdb refuses root). */
const asPostgres = (binary: string, args: ReadonlyArray<string>) => {
  const asRoot = process.getuid?.() === 0
  const [command, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(binDir, binary), ...args]] : [join(binDir, binary), [...args]]
  return execFileSync(command, argv, { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }).toString()
}

const dirPrefix = "evolve-pg-server-"

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops the servers of test runs that died without their teardown (killed, timed out). */
const sweepOrphans = () => {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(dirPrefix))) {
    const dir = join(tmpdir(), name)
    const ownerFile = join(dir, "owner")
    // A directory without its owner yet may be another run's, between mkdtemp and writing it.
    if (!existsSync(ownerFile)) {
      if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue
    } else if (alive(Number(readFileSync(ownerFile, "utf8")))) continue
    try {
      asPostgres("pg_ctl", ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"])
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

export default async function setup(project: TestProject) {
  if (!existsSync(join(binDir, "initdb")) || !existsSync(join(binDir, "pg_ctl"))) {
    const state: PostgresServer = { status: "missing", reason: `no PostgreSQL binaries in ${binDir} (apt-get install postgresql)` }
    project.provide("postgres", state)
    return
  }
  sweepOrphans()
  const dir = mkdtempSync(join(tmpdir(), dirPrefix))
  writeFileSync(join(dir, "owner"), String(process.pid))
  const data = join(dir, "data")
  let started = false
  try {
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim())
      const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim())
      chownSync(dir, uid, gid)
      writeFileSync(join(dir, "pw"), `${password}\n`, { mode: 0o600 })
      chownSync(join(dir, "pw"), uid, gid)
    } else {
      writeFileSync(join(dir, "pw"), `${password}\n`, { mode: 0o600 })
    }
    asPostgres("initdb", [
      "-D", data, "-U", "postgres", "--pwfile", join(dir, "pw"), "--auth-local=trust", "--auth-host=scram-sha-256",
      "--no-sync", "-E", "UTF8", "--locale=C"
    ])
    const port = await freePort()
    // Durability is not what these tests check: no fsync keeps a run of tests fast on a busy machine.
    const options = `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB`
    asPostgres("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"])
    started = true
    const state: PostgresServer = { status: "ready", host: "127.0.0.1", port, user: "postgres", password, dataDir: data, binDir }
    project.provide("postgres", state)
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0]! : String(error)
    project.provide("postgres", { status: "failed", reason: `cannot start PostgreSQL: ${reason}` } satisfies PostgresServer)
  }
  return () => {
    if (started) {
      try {
        asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
