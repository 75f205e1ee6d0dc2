/**
 * Steering survives kill -9 (issue 17): a run hosted by `evolve serve` (SQLite) is steered with
 * `evolve steer` (a hint, a pin, a ban), the server is killed with SIGKILL, and a new server
 * resumes the run: every prompt the resumed run sends carries the hint, its proposals take the
 * pinned parent, and, once unpinned, never the banned program.
 */
import Sqlite from "better-sqlite3"
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callJson, cliPath, runCli, startCli, until } from "../support/cli.js"
import { type FakeOpenAiServer, startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const HINT = "E2E-HINT: keep the step size small."
const env = { EVOLVE_DB: "", OPENAI_API_KEY: "sk-e2e-steer-resume" }

interface Row {
  readonly id: string
  readonly parent_id: string | null
  readonly status: string
  readonly score: number | null
}

const programs = (db: string): Array<Row> => {
  if (!existsSync(db)) return []
  const sqlite = new Sqlite(db, { readonly: true })
  try {
    return sqlite.prepare("SELECT id, parent_id, status, score FROM programs ORDER BY created_at, id").all() as Array<Row>
  } finally {
    sqlite.close()
  }
}



describe("steering a served run survives kill -9", () => {
  let server: FakeOpenAiServer
  const dirs: Array<string> = []
  beforeAll(async () => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
    server = await startFakeOpenAiServer({ latency: { meanMs: 100, jitterMs: 20 }, seed: 11 })
  })
  afterAll(async () => {
    await server.close()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it("keeps the hint, the pin and the ban after the server is killed and a new one resumes the run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evolve-steer-resume-"))
    dirs.push(dir)
    cpSync(resolve("examples/function_minimization"), dir, { recursive: true })
    const db = join(dir, "run.db")
    const serve = () => startCli(["serve", "--db", db, "--port", "0", "--no-token"], dir, env)
    let first = serve()
    let second: ReturnType<typeof serve> | undefined
    try {
      const url1 = (await first.until(/evolve serve: (http:\S+)/))[1]!
      const created = await callJson(`${url1}/api/runs`, "POST", {
        program: join(dir, "initial_program.mjs"),
        evaluator: join(dir, "evaluator.mjs"),
        config: {
          max_evaluations: 30,
          seed: 5,
          concurrency: { proposals: 1, evaluations: 1 },
          llm: { provider: "openai-chat", model: "fake-model", base_url: server.url }
        }
      })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const runId: string = created.body.id

      // Steered once a few children are scored: the root pinned, the best child banned.
      const scored = await until("three scored programs", () => programs(db), (rows) => rows.filter((r) => r.status === "evaluated").length >= 3)
      const root = scored.find((r) => r.parent_id === null)!
      const banned = scored.filter((r) => r.parent_id !== null && r.status === "evaluated").sort((a, b) => b.score! - a.score!)[0]!
      const steered = await runCli(["steer", runId, "--hint", HINT, "--pin", root.id, "--ban", banned.id, "--server", url1], dir, env)
      expect(steered.status, steered.stdout + steered.stderr).toBe(0)

      // kill -9 while the run goes on; what the fake server receives from now on is the resumed run's.
      first.kill("SIGKILL")
      await first.exited
      const before = new Set(programs(db).map((r) => r.id))
      expect(programs(db).filter((r) => r.status === "evaluated").length).toBeLessThan(30)
      server.reset()

      second = serve()
      const url2 = (await second.until(/evolve serve: (http:\S+)/))[1]!
      await second.until(new RegExp(`resumed run ${runId}`))
      const steering = (await callJson(`${url2}/api/runs/${runId}/steering`)).body
      expect(steering.guidance.map((h: { text: string }) => h.text)).toEqual([HINT])
      expect(steering.pinned).toEqual([root.id])
      expect(steering.banned).toEqual([banned.id])

      // While pinned, the resumed run's proposals all take the root as their parent.
      const pinnedPhase = await until(
        "three programs proposed by the resumed run",
        () => programs(db).filter((r) => !before.has(r.id)),
        (rows) => rows.length >= 3
      )
      expect(pinnedPhase.every((r) => r.parent_id === root.id), JSON.stringify(pinnedPhase)).toBe(true)

      // Unpinned, parents come from the whole population again, never the banned program.
      const unpinned = await runCli(["steer", runId, "--unpin", "--server", url2], dir, env)
      expect(unpinned.status, unpinned.stdout + unpinned.stderr).toBe(0)
      await until("the run's end", async () => (await callJson(`${url2}/api/runs/${runId}`)).body, (r) => r.status === "completed")
      const resumed = programs(db).filter((r) => !before.has(r.id))
      expect(resumed.length).toBeGreaterThan(pinnedPhase.length)
      expect(resumed.filter((r) => r.parent_id === banned.id)).toEqual([])
      expect(resumed.some((r) => r.parent_id !== root.id), "after the unpin some parent is not the root").toBe(true)

      // Every prompt the resumed run sent carries the hint.
      expect(server.requests.length).toBeGreaterThanOrEqual(resumed.length)
      const withoutHint = server.requests.filter((r) => !JSON.stringify(r.body.messages).includes(HINT))
      expect(withoutHint.map((r) => r.index)).toEqual([])
    } catch (e) {
      console.error(`--- first server:\n${first.output()}\n--- second server:\n${second?.output() ?? ""}`)
      throw e
    } finally {
      await Promise.all([first.stop(), second?.stop()])
    }
  }, 240_000)
})
