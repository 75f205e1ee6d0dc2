/**
 * The bundled CLI on a Postgres database (issue 16): an offline run commits the same results as
 * on SQLite, and a bad URL, a wrong password, Postgres down or silent are each one line and exit 2
 * — from `evolve run`, `ls`, `worker` and `serve` — with the password in no output.
 */
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import { VERSION } from "../../src/domain/Version.js"
import { freshDatabase, required, server, unavailable, urlOf } from "../support/postgres.js"
import { cliPath, freePort, runCli as runCliIn, startCli as startCliIn } from "../support/cli.js"

// No EVOLVE_DB from the environment: each command names its database.
const runCli = (args: ReadonlyArray<string>, cwd: string) => runCliIn(args, cwd, { EVOLVE_DB: "" })
const startCli = (args: ReadonlyArray<string>, cwd: string) => startCliIn(args, cwd, { EVOLVE_DB: "" })

const example = resolve("examples/function_minimization")

const workspaces: Array<string> = []
const workspace = () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-pgcli-e2e-"))
  cpSync(example, dir, { recursive: true })
  workspaces.push(dir)
  return dir
}

/** What a run committed, in an order both databases agree on. */
const committedQuery = `SELECT code_hash, status, score, failure_kind FROM programs WHERE status <> 'rejected' AND code_hash <> '' ORDER BY code_hash`
type Committed = { code_hash: string; status: string; score: number | null; failure_kind: string | null }

describe.skipIf(unavailable !== undefined && !required)("evolve on Postgres, end to end", () => {
  const password = server.status === "ready" ? server.password : "unavailable"
  let silent: Server | undefined
  let silentPort = 0
  const sockets = new Set<Socket>()
  beforeAll(async () => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
    expect(unavailable).toBeUndefined()
    // A port that accepts connections and never answers: connecting must time out, not hang.
    silent = createServer((socket) => sockets.add(socket))
    await new Promise<void>((done) => silent!.listen(0, "127.0.0.1", done))
    silentPort = (silent.address() as { port: number }).port
  })
  afterAll(() => {
    for (const socket of sockets) socket.destroy()
    silent?.close()
    for (const dir of workspaces) rmSync(dir, { recursive: true, force: true })
  })

  it("runs in a cluster (a control process, a worker, a submitting CLI) and commits the same evaluations as on SQLite", async () => {
    const dir = workspace()
    const url = await Effect.runPromise(freshDatabase)
    const control = startCli(["serve", "--db", url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(await freePort())], dir)
    const worker = startCli(["worker", "--db", url, "--slots", "2", "--cache-dir", join(dir, ".cache")], dir)
    const args = ["run", "initial_program.mjs", "evaluator.mjs", "--config", "evolve.yaml", "--iterations", "12"]
    try {
      await control.until(/evolve serve: http/)
      await worker.until(/evolve worker \S+: 2 slots/)
      const onPg = await runCli([...args, "--db", url], dir)
      expect(onPg.status, onPg.output).toBe(0)
      expect(onPg.output).toMatch(/submitted to the cluster/)
      expect(onPg.output).toMatch(/completed \(max_evaluations\): 12 scored/)
      const ls = await runCli(["ls", "--db", url], dir)
      expect(ls.output).toMatch(/1 worker alive: \d of 2 slots busy/)
      for (const out of [onPg.output, control.output(), worker.output(), ls.output]) expect(out).not.toContain(password)
    } finally {
      await Promise.all([worker.stop(), control.stop()])
    }
    expect(worker.output()).toMatch(/stopped: \d+ evaluations committed/)
    const onSqlite = await runCli([...args, "--db", join(dir, "run.db")], dir)
    expect(onSqlite.status, onSqlite.output).toBe(0)

    const [fromPg, specs] = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(url) })
      return [yield* sql.unsafe<Committed>(committedQuery), yield* sql<{ spec: string }>`SELECT spec FROM runs`] as const
    })).pipe(Effect.provide(Reactivity.layer)))
    const sqlite = new Database(join(dir, "run.db"), { readonly: true })
    const fromSqlite = sqlite.prepare(committedQuery).all() as Array<Committed>
    sqlite.close()
    // The search itself is not reproducible run to run (proposals race evaluations), on either
    // database: the same work committed, and the same code scored the same (the evaluator is).
    const summary = (rows: ReadonlyArray<Committed>) => ({
      evaluated: rows.filter((r) => r.status === "evaluated").length,
      pending: rows.filter((r) => r.status === "pending").length
    })
    expect(summary(fromPg)).toEqual({ evaluated: 12, pending: 0 })
    expect(summary(fromSqlite)).toEqual(summary(fromPg))
    const sqliteByHash = new Map(fromSqlite.map((r) => [r.code_hash, r]))
    const shared = fromPg.filter((r) => sqliteByHash.has(r.code_hash))
    expect(shared.length).toBeGreaterThan(0) // the initial program at least
    for (const row of shared) expect(row).toEqual(sqliteByHash.get(row.code_hash))
    expect(fromPg.every((r) => r.score === null || typeof r.score === "number")).toBe(true)
    // The stored spec names the database without its password.
    expect(specs.map((s) => s.spec).join()).not.toContain(password)

    const ls = await runCli(["ls", "--db", url], dir)
    expect(ls.status).toBe(0)
    expect(ls.output).toMatch(/completed\s+12/)
    expect(ls.output).not.toContain(password)
  }, 120_000)

  it("ships the evaluator's directory with the run: a worker elsewhere, without the files on its disk, evaluates from its cache", async () => {
    const dir = workspace()
    // The evaluator needs a helper module beside it (as a Shinka evaluate.py needs its own modules).
    mkdirSync(join(dir, "eval", "lib"), { recursive: true })
    const evaluator = readFileSync(join(dir, "evaluator.mjs"), "utf8")
    expect(evaluator).toMatch(/^const F_MIN = .*$/m)
    writeFileSync(join(dir, "eval", "evaluator.mjs"), evaluator.replace(/^const F_MIN = (.*)$/m, `import { F_MIN } from "./lib/constants.mjs"`))
    writeFileSync(join(dir, "eval", "lib", "constants.mjs"), `export const F_MIN = ${/^const F_MIN = (.*)$/m.exec(evaluator)![1]}\n`)
    const elsewhere = mkdtempSync(join(tmpdir(), "evolve-pgcli-worker-"))
    workspaces.push(elsewhere)
    const url = await Effect.runPromise(freshDatabase)
    const control = startCli(["serve", "--db", url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(await freePort())], elsewhere)
    const submitted = startCli(["run", "initial_program.mjs", "eval/evaluator.mjs", "--config", "evolve.yaml", "--iterations", "6", "--db", url], dir)
    let worker: ReturnType<typeof startCli> | undefined
    try {
      await control.until(/evolve serve: http/)
      await submitted.until(/submitted to the cluster/)
      // The evaluator's directory is gone before any worker runs: only the database has it now.
      renameSync(join(dir, "eval"), join(dir, "eval-gone"))
      worker = startCli(["worker", "--db", url, "--slots", "2", "--cache-dir", join(elsewhere, "cache")], elsewhere)
      await worker.until(/evolve worker \S+: 2 slots/)
      await submitted.until(/run \S+ completed \(max_evaluations\): 6 scored, 0 failed/)
    } finally {
      await Promise.all([worker?.stop(), control.stop(), submitted.stop()])
    }
    const cached = readdirSync(join(elsewhere, "cache"))
    expect(cached).toHaveLength(1)
    expect(cached[0]).toMatch(/^[0-9a-f]{64}$/)
    expect(readdirSync(join(elsewhere, "cache", cached[0]!)).sort()).toEqual(["evaluator.mjs", "lib"])
    // Too big a directory to ship: the run is refused at submission, with why and what to do.
    writeFileSync(join(dir, "big.bin"), Buffer.alloc(17 * 1024 * 1024))
    const refused = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--config", "evolve.yaml", "--db", url], dir)
    expect(refused.status, refused.output).toBe(2)
    expect(refused.output).toMatch(/the evaluator's directory \S+ holds more than 16\.0 MB of files: a cluster run ships that directory to its workers/)
  }, 120_000)

  it("exits 2 with one line naming the cause, and never the password, when the database cannot be used", async () => {
    const dir = workspace()
    const base = server.status === "ready" ? server : undefined
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [`postgres://postgres:${password}@:99999/x`, /not a valid URL/],
      [`postgres://postgres:wrong-${password}@127.0.0.1:${base?.port}/postgres`, /wrong password/],
      [urlOf("no_such_database"), /no such database/],
      [`postgres://postgres:${password}@127.0.0.1:1/postgres`, /connection refused/],
      [`postgres://postgres:${password}@127.0.0.1:${silentPort}/postgres`, /no answer within 5s/]
    ]
    for (const [url, expected] of cases) {
      for (const args of [["ls", "--db", url], ["run", "initial_program.mjs", "evaluator.mjs", "--db", url], ["worker", "--db", url, "--slots", "2"]]) {
        const result = await runCli(args, dir)
        expect(result.status, result.output).toBe(2)
        expect(result.output).toMatch(expected)
        expect(result.output.trim().split("\n")).toHaveLength(1)
        expect(result.output).not.toContain(password)
      }
    }
    for (const [url, expected] of [cases[1]!, cases[3]!]) {
      const serve = await runCli(["serve", "--port", "0", "--db", url], dir)
      expect(serve.status, serve.output).toBe(2)
      expect(serve.output).toMatch(expected)
      expect(serve.output.trim().split("\n"), serve.output).toHaveLength(1)
      expect(serve.output).not.toContain(password)
    }
  }, 120_000)

  it("refuses a worker (and any command) of an evolve older than the database's schema: one line, exit 2", async () => {
    const dir = workspace()
    const url = await Effect.runPromise(freshDatabase)
    const ls = await runCli(["ls", "--db", url], dir)
    expect(ls.status, ls.output).toBe(0)
    // A newer evolve migrated this database further than this build knows.
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(url) })
      yield* sql`INSERT INTO effect_sql_migrations (migration_id, name) VALUES (9999, 'from_the_future')`
    })).pipe(Effect.provide(Reactivity.layer)))
    const port = String(await freePort())
    for (const args of [["worker", "--db", url, "--slots", "2"], ["ls", "--db", url], ["serve", "--port", "0", "--no-token", "--db", url, "--cluster-port", port]]) {
      const result = await runCli(args, dir)
      expect(result.status, result.output).toBe(2)
      expect(result.output).toMatch(/schema is version 9999, newer than this evolve knows/)
      expect(result.output.trim().split("\n"), result.output).toHaveLength(1)
      expect(result.output).not.toContain(password)
    }
  }, 120_000)

  it("refuses a worker of another major.minor than the cluster's control processes (one line naming both, exit 2); a patch release joins", async () => {
    const dir = workspace()
    const url = await Effect.runPromise(freshDatabase)
    const onDatabase = <A>(f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(url) }), f)).pipe(Effect.provide(Reactivity.layer)))
    // A control process records the version it runs when it starts.
    const control = startCli(["serve", "--db", url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(await freePort())], dir)
    try {
      await control.until(/evolve serve: http/)
    } finally {
      await control.stop()
    }
    const recorded = await onDatabase((sql) => sql<{ version: string }>`SELECT version FROM cluster_versions`)
    expect(recorded.map((r) => r.version)).toEqual([VERSION])

    const [major, minor, patch] = VERSION.split(".").map(Number) as [number, number, number]
    const newer = `${major}.${minor + 1}.0`
    // The cluster's newest control process runs the next minor release.
    await onDatabase((sql) => sql`INSERT INTO cluster_versions (version, recorded_at) VALUES (${newer}, ${Date.now() + 60_000})`)
    const migrationsBefore = await onDatabase((sql) => sql`SELECT migration_id FROM effect_sql_migrations`)
    const refused = await runCli(["worker", "--db", url, "--slots", "2", "--cache-dir", join(dir, ".cache")], dir)
    expect(refused.status, refused.output).toBe(2)
    expect(refused.output.trim().split("\n"), refused.output).toHaveLength(1)
    expect(refused.output).toContain(`this evolve is version ${VERSION}, the cluster's control processes run ${newer}`)
    expect(refused.output).toContain(`${major}.${minor + 1}.x`)
    expect(refused.output).not.toContain(password)
    // Refused before it touched the schema.
    expect(await onDatabase((sql) => sql`SELECT migration_id FROM effect_sql_migrations`)).toEqual(migrationsBefore)

    // A patch release of the same major.minor may work with this one.
    await onDatabase((sql) => sql`INSERT INTO cluster_versions (version, recorded_at) VALUES (${`${major}.${minor}.${patch + 7}`}, ${Date.now() + 120_000})`)
    const worker = startCli(["worker", "--db", url, "--slots", "2", "--cache-dir", join(dir, ".cache")], dir)
    try {
      expect((await worker.until(/evolve worker \S+: 2 slots.*\n/)).at(0)).toContain("(16 copies kept)")
    } finally {
      await worker.stop()
    }
    const badKeep = await runCli(["worker", "--db", url, "--cache-keep", "0"], dir)
    expect(badKeep.status, badKeep.output).toBe(2)
    expect(badKeep.output.trim()).toMatch(/^[^\n]*--cache-keep 0: expected an integer of at least 1/)
  }, 120_000)

  it("serves a Postgres database: the URL redacted in its startup line, the generated token under ./.evolve", async () => {
    const dir = workspace()
    const url = await Effect.runPromise(freshDatabase)
    const child = spawn(process.execPath, [cliPath, "serve", "--port", "0", "--db", url], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stderr.on("data", (d) => (output += d))
    const started = await new Promise<string>((done) => {
      child.stdout.on("data", (d) => {
        output += d
        if (output.includes("log in at")) done(output)
      })
      child.on("exit", () => done(output))
    })
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
    child.kill("SIGTERM")
    await exited
    expect(started).toMatch(/database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/evolve_test_/)
    expect(started).toContain(`the token is also in ${join(realpathSync(dir), ".evolve", "serve.token")}`)
    expect(output).not.toContain(password)
  }, 60_000)
})
