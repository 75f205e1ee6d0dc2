/**
 * A throwaway PostgreSQL 15 server: `initdb` + `pg_ctl` (as the postgres user when run as root,
 * since initdb refuses root), on 127.0.0.1, a free port, a temp dir, password authentication
 * over TCP, no fsync (durability is not what its users check). Used by the test run's
 * globalSetup and by the cluster's multi-process test and benchmark (scripts/cluster).
 */
import { execFile, execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const binDir = process.env["EVOLVE_POSTGRES_BIN"] ?? "/usr/lib/postgresql/15/bin"

export const available = () => existsSync(join(binDir, "initdb")) && existsSync(join(binDir, "pg_ctl"))

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

const commandOf = (binary: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", join(binDir, binary), ...args]] : [join(binDir, binary), [...args]]

/** Runs a Postgres binary as the postgres user when we are root (initdb refuses root). */
export const asPostgres = (binary: string, args: ReadonlyArray<string>, timeoutMs = 60_000) => {
  const [command, argv] = commandOf(binary, args)
  return execFileSync(command, argv, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs }).toString()
}

/** `asPostgres` without blocking this process (its statements go on while the binary runs). */
const asPostgresInBackground = (binary: string, args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    const [command, argv] = commandOf(binary, args)
    execFile(command, argv, { timeout: 60_000 }, (error) => (error ? reject(error) : resolve()))
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops the servers under `prefix` dirs whose owner died without stopping them (killed, timed out). */
export const sweepOrphans = (prefix: string) => {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(prefix))) {
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

export interface ThrowawayServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly dir: string
  readonly dataDir: string
  /** The URL of `database` on it, with the password. */
  readonly urlOf: (database: string) => string
  /** `pg_ctl restart` (fast shutdown: open connections are cut). */
  readonly restart: () => void
  /** The same, while this process goes on (its own connections are cut mid-statement). */
  readonly restartInBackground: () => Promise<void>
  /** Stops it (immediate) and removes its directory. */
  readonly stop: () => void
}

/**
 * Starts a server in a new temp dir named `prefix…` (the caller's pid in its `owner` file, for
 * sweepOrphans). Throws when it cannot.
 */
export const start = async (options: { readonly prefix: string; readonly password: string; readonly maxConnections?: number }): Promise<ThrowawayServer> => {
  const { password } = options
  const dir = mkdtempSync(join(tmpdir(), options.prefix))
  writeFileSync(join(dir, "owner"), String(process.pid))
  const data = join(dir, "data")
  let started = false
  const stop = () => {
    if (started) {
      try {
        asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } catch {
        // already gone
      }
      started = false
    }
    rmSync(dir, { recursive: true, force: true })
  }
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
    const options_ = `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=${
      options.maxConnections ?? 300
    } -c shared_buffers=32MB`
    asPostgres("pg_ctl", ["-D", data, "-o", options_, "-l", join(dir, "log"), "-w", "-t", "30", "start"])
    started = true
    const host = "127.0.0.1"
    const restartArgs = ["-D", data, "-m", "fast", "-l", join(dir, "log"), "-w", "-t", "60", "restart"]
    return {
      host,
      port,
      user: "postgres",
      password,
      dir,
      dataDir: data,
      urlOf: (database) => `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/${database}`,
      // With its log file: otherwise the new server writes to (and holds open) our pipe.
      restart: () => void asPostgres("pg_ctl", restartArgs),
      restartInBackground: () => asPostgresInBackground("pg_ctl", restartArgs),
      stop
    }
  } catch (error) {
    stop()
    throw error
  }
}
