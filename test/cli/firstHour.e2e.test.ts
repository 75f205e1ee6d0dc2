import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { cliPath, runCli } from "../support/cli.js"

// What a new user following the README meets (issue 19, items 10-15), through the bundled CLI.
const example = resolve("examples/function_minimization")
const workspace = () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-first-hour-"))
  cpSync(example, dir, { recursive: true })
  return dir
}

describe("the first hour", () => {
  beforeAll(() => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
  })

  it("read-only commands never create a database; best with no runs says so", async () => {
    const dir = workspace()
    for (const args of [["ls"], ["best"], ["show", "run_x"], ["resume"]]) {
      const missing = await runCli([...args, "--db", join(dir, "no", "dir", "x.db")], dir)
      expect(missing.status).toBe(2)
      expect(missing.stderr).toMatch(/database \S*\/no\/dir\/x\.db: no such file \(evolve run creates it/)
      expect(existsSync(join(dir, "no"))).toBe(false)
      const local = await runCli([...args, "--db", "here.db"], dir)
      expect(local.status).toBe(2)
      expect(existsSync(join(dir, "here.db"))).toBe(false)
    }
    writeFileSync(join(dir, "empty.db"), "")
    const best = await runCli(["best", "--db", "empty.db"], dir)
    expect(best.status).toBe(2)
    expect(best.stderr).toMatch(/no runs in this database yet: start one with evolve run/)
    expect(best.stderr).not.toMatch(/at .*\.js:\d+/)
  })

  it("after a run: the best program next to the database, and the commands to go on with", async () => {
    const dir = workspace()
    // Every third evaluation fails, so that `evolve programs --status failed` has something to list.
    writeFileSync(
      join(dir, "flaky_evaluator.mjs"),
      `import { existsSync, readFileSync, writeFileSync } from "node:fs"
const counter = ${JSON.stringify(join(dir, "count"))}
const n = (existsSync(counter) ? Number(readFileSync(counter, "utf8")) : 0) + 1
writeFileSync(counter, String(n))
if (n % 3 === 0) { console.error("boom " + n); process.exit(1) }
await import("./evaluator.mjs")
`
    )
    const run = await runCli(
      ["run", "initial_program.mjs", "flaky_evaluator.mjs", "--config", "evolve.yaml", "--iterations", "12", "--db", "out/runs.db"],
      dir
    )
    expect(run.status).toBe(0)
    const best = readFileSync(join(dir, "out", "best_program.mjs"), "utf8")
    const runId = /run (run_\S+):/.exec(run.stdout)![1]!
    expect(run.stdout).toContain(`best program   ${join(dir, "out", "best_program.mjs")}`)
    expect(run.stdout).toMatch(new RegExp(`evolve best ${runId} --db \\S*out/runs\\.db`))
    expect(run.stdout).toMatch(/evolve show p_\S+ --db /)
    expect(run.stdout).toMatch(/evolve serve --db /)
    const printed = await runCli(["best", runId, "--db", "out/runs.db"], dir)
    expect(printed.stdout.trim()).toBe(best.trim())

    // evolve programs: best first, by status and island, ids ready for evolve show.
    const listed = await runCli(["programs", "--db", "out/runs.db", "-k", "3"], dir)
    expect(listed.status).toBe(0)
    const rows = listed.stdout.trim().split("\n").slice(1).map((line) => line.split(/\s+/))
    expect(rows).toHaveLength(3)
    const scores = rows.map((r) => Number(r[2]))
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)
    expect(run.stdout).toContain(`program ${rows[0]![0]}`)
    expect(listed.stderr).toMatch(/3 of \d+ program\(s\) of run run_\S+, best first/)
    const failed = await runCli(["programs", runId, "--db", "out/runs.db", "--status", "failed"], dir)
    expect(failed.status).toBe(0)
    const failedRows = failed.stdout.trim().split("\n").slice(1)
    expect(failedRows.length).toBeGreaterThan(0)
    for (const row of failedRows) expect(row).toMatch(/^p_\S+ +failed .*evaluator.*boom/)
    const island = await runCli(["programs", "--db", "out/runs.db", "--island", "7"], dir)
    expect(island.stderr).toMatch(/has no such program/)
  })

  it("a native-module load failure prints its whole message", async () => {
    const dir = workspace()
    writeFileSync(join(dir, "empty.db"), "")
    const preload = join(dir, "dlopen-fails.cjs")
    writeFileSync(
      preload,
      `process.dlopen = () => { throw new Error("Could not locate the bindings file. Tried:\\n → /x/build/a.node\\n → /x/lib/b.node") }\n`
    )
    const failed = await runCli(["ls", "--db", "empty.db"], dir, { NODE_OPTIONS: `--require ${preload}` })
    expect(failed.status).toBe(1)
    expect(failed.stderr).toContain("Could not locate the bindings file. Tried:\n → /x/build/a.node\n → /x/lib/b.node")
  })

  it("help has no escapes off a TTY or with NO_COLOR, and no --wizard", async () => {
    const dir = workspace()
    for (const env of [{}, { NO_COLOR: "1" }]) {
      const help = await runCli(["run", "--help"], dir, env)
      expect(help.status).toBe(0)
      expect(help.stdout).toMatch(/^Usage: evolve run \[flags\] <program> <evaluator>$/m)
      expect(help.stdout + help.stderr).not.toMatch(/\x1b/)
    }
    const wizard = await runCli(["--wizard"], dir)
    expect(wizard.status).toBe(2)
    expect(wizard.stderr).toMatch(/unknown flag --wizard/)
  })
})
