import { cpSync, existsSync, mkdtempSync, writeFileSync } from "node:fs"
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
      const missing = await runCli([...args, "--db", "/nonexistent/dir/x.db"], dir)
      expect(missing.status).toBe(2)
      expect(missing.stderr).toMatch(/database \/nonexistent\/dir\/x\.db: no such file \(evolve run creates it/)
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
})
