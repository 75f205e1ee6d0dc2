/**
 * Steering and provider: human across a cluster (issue 16): with two control processes and a
 * worker on Postgres, a run's steering (HTTP and `evolve steer`) and its human prompts (listing,
 * answering) work through either control process — whichever of the two hosts the run, the other
 * reaches it through the run's entity.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { freshDatabase, required, unavailable } from "../support/postgres.js"
import { callJson, cliPath, freePort, runCli, startCli as startCliIn, until } from "../support/cli.js"

const startCli = (args: ReadonlyArray<string>, cwd: string) => startCliIn(args, cwd, { EVOLVE_DB: "" })

const workspaces: Array<string> = []



/**
 * Whether the cluster's shards are settled between the two control processes: each holds the
 * advisory locks of its shards (@effect/cluster on Postgres), all 300 held, by two sessions.
 */
const settled = (url: string) => () =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
    const rows = yield* sql<{ pids: string | number; locks: string | number }>`SELECT COUNT(DISTINCT pid) AS pids, COUNT(*) AS locks
      FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
    return Number(rows[0]?.pids) === 2 && Number(rows[0]?.locks) === 300
  })).pipe(Effect.provide(Reactivity.layer), Effect.orElseSucceed(() => false)))

describe.skipIf(unavailable !== undefined && !required)("steering and provider human through a cluster", () => {
  afterAll(() => {
    for (const dir of workspaces) rmSync(dir, { recursive: true, force: true })
  })

  it("steers a run and answers its human prompts through either control process", async () => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
    const dir = mkdtempSync(join(tmpdir(), "evolve-cluster-steer-"))
    workspaces.push(dir)
    cpSync(resolve("examples/function_minimization"), dir, { recursive: true })
    const db = await Effect.runPromise(freshDatabase)
    const control = async () =>
      startCli(["serve", "--db", db, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(await freePort())], dir)
    const a = await control()
    const b = await control()
    const worker = startCli(["worker", "--db", db, "--slots", "1", "--cache-dir", join(dir, ".cache")], dir)
    try {
      const [urlA, urlB] = [(await a.until(/evolve serve: (http:\S+)/))[1]!, (await b.until(/evolve serve: (http:\S+)/))[1]!]
      await worker.until(/evolve worker \S+: 1 slots/)
      // Both control processes own their shards before the run exists, so its shard does not move
      // from one to the other while the test talks to it (a move is a takeover: another test's).
      await until("the shards settled on two runners", settled(db), (ok) => ok)
      const created = await callJson(`${urlA}/api/runs`, "POST", {
        program: join(dir, "initial_program.mjs"),
        evaluator: join(dir, "evaluator.mjs"),
        config: { max_evaluations: 3, seed: 3, concurrency: { proposals: 1, evaluations: 1 }, llm: { provider: "human" } }
      })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const runId: string = created.body.id
      const promptsOf = (url: string) => async () => (await callJson(`${url}/api/runs/${runId}/prompts`)).body as Array<any>

      // The first prompt waits on the desk of the run's host; both control processes list it.
      const [first] = await until("the first prompt", promptsOf(urlA), (p) => p.length === 1)
      expect(first).toMatchObject({ runId, model: "human" })
      expect(await promptsOf(urlB)()).toEqual([first])

      // Steering through both: a hint over HTTP to one, another with `evolve steer` to the other.
      expect((await callJson(`${urlB}/api/runs/${runId}/hints`, "POST", { text: "Hint through B." })).status).toBe(200)
      const steered = await runCli(["steer", runId, "--hint", "Hint through A.", "--server", urlA], dir)
      expect(steered.status, steered.stdout + steered.stderr).toBe(0)
      for (const url of [urlA, urlB]) {
        const steering = (await callJson(`${url}/api/runs/${runId}/steering`)).body
        expect(steering.guidance.map((h: any) => h.text)).toEqual(["Hint through B.", "Hint through A."])
      }

      // Answered through B, then the next prompt (with the guidance in it) through A: one of the two is not the host.
      const line = "  // A deliberately naive simulated annealing with poorly chosen parameters."
      const answer = (who: string) => `<<<<<<< SEARCH\n${line}\n=======\n${line}\n  // answered by a person through ${who}\n>>>>>>> REPLACE\n`
      expect((await callJson(`${urlB}/api/prompts/${encodeURIComponent(first.id)}/answer`, "POST", { text: answer("B") })).status).toBe(204)
      expect((await callJson(`${urlA}/api/prompts/${encodeURIComponent(first.id)}/answer`, "POST", { text: answer("A") })).status).toBe(404)
      const [second] = await until("the second prompt", promptsOf(urlB), (p) => p.length === 1 && p[0].id !== first.id)
      expect(second.user).toContain("Hint through B.")
      expect(second.user).toContain("Hint through A.")
      expect((await callJson(`${urlA}/api/prompts/${encodeURIComponent(second.id)}/answer`, "POST", { text: answer("A") })).status).toBe(204)

      const done = await until("the run's end", async () => (await callJson(`${urlB}/api/runs/${runId}`)).body, (r) => r.status === "completed")
      expect(done.evaluated).toBe(3)
      const programs = (await callJson(`${urlA}/api/runs/${runId}/programs?limit=10`)).body
      const codes = await Promise.all(programs.items.map(async (p: any) => (await callJson(`${urlA}/api/programs/${p.id}`)).body.code as string))
      expect(codes.filter((c) => c.includes("answered by a person through B"))).toHaveLength(1)
      expect(codes.filter((c) => c.includes("answered by a person through A"))).toHaveLength(1)
    } catch (e) {
      // What the processes said, to tell a slow machine from a fault.
      for (const [name, p] of [["control A", a], ["control B", b], ["worker", worker]] as const) console.error(`--- ${name}:\n${p.output()}`)
      throw e
    } finally {
      await Promise.all([worker.stop(), a.stop(), b.stop()])
    }
  }, 300_000)
})
