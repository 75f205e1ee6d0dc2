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
    const run = await runCli(
      ["run", "initial_program.mjs", "evaluator.mjs", "--config", "evolve.yaml", "--iterations", "12", "--db", "out/runs.db"],
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
