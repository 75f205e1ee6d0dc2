/**
 * A multi-file run through the CLI: killed with SIGKILL mid-run, resumed to the end (no
 * candidate evaluated twice, every tree readable), then `best -o DIR` writes the tree and
 * `diff` compares two programs file by file.
 */
import Sqlite from "better-sqlite3"
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { cliPath, runCli } from "../support/cli.js"

/** Committed candidates so far (0 while the database is being created). */
const committed = (db: string): number => {
  if (!existsSync(db)) return 0
  try {
    const sqlite = new Sqlite(db, { readonly: true })
    try {
      return (sqlite.prepare("SELECT COUNT(*) AS n FROM programs WHERE status <> 'pending'").get() as { n: number }).n
    } finally {
      sqlite.close()
    }
  } catch {
    return 0
  }
}

describe("a multi-file run", () => {
  it("resumes after kill -9, then writes its best tree and diffs two programs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evolve-multifile-e2e-"))
    cpSync(resolve("examples/multi_file"), dir, { recursive: true })
    const db = join(dir, "run.db")
    const args = ["run", "program", "evaluator.py", "--config", "evolve.yaml", "--iterations", "8", "--db", db]
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: dir, env: { ...process.env, EVOLVE_DB: "" }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
    // Killed once a few candidates are committed and others are in flight.
    for (let i = 0; i < 600; i++) {
      const count = committed(db)
      if (count >= 2 || child.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 100))
    }
    child.kill("SIGKILL")
    await exited
    expect(output).toMatch(/evolving .*program/)

    const resumed = await runCli(["resume", "--db", db], dir, { EVOLVE_DB: "" })
    expect(resumed.stderr + resumed.stdout).toMatch(/completed/)
    const sqlite = new Sqlite(db, { readonly: true })
    const rows = sqlite.prepare("SELECT id, status, code, tree, eval_starts FROM programs ORDER BY created_at").all() as Array<
      { id: string; status: string; code: string; tree: string | null; eval_starts: number }
    >
    expect(rows.filter((r) => r.status === "pending")).toEqual([])
    expect(rows.every((r) => r.code === "" && r.tree !== null)).toBe(true)
    expect(rows.filter((r) => r.status === "evaluated").length).toBeGreaterThan(0)
    // Files are stored once each: far fewer blobs than files × programs.
    const blobs = (sqlite.prepare("SELECT COUNT(*) AS n FROM blobs").get() as { n: number }).n
    expect(blobs).toBeLessThan(rows.length * 2 + 10)

    const out = join(dir, "best")
    const best = await runCli(["best", "--db", db, "-o", out], dir, { EVOLVE_DB: "" })
    expect(best.stderr).toMatch(/wrote the 5 files of program/)
    expect(readFileSync(join(out, "fastsort", "hybrid.py"), "utf8")).toContain("def sort(items)")
    expect(readFileSync(join(out, "tests", "test_fastsort.py"), "utf8")).toContain("class SortTest")

    const changed = rows.find((r) => r.status === "evaluated" && r.id !== rows[0]!.id) ?? rows[1]!
    const diff = await runCli(["diff", rows[0]!.id, changed.id, "--db", db], dir, { EVOLVE_DB: "" })
    expect(diff.status).toBe(0)
    expect(diff.stdout).toMatch(/^--- fastsort\/(hybrid|search)\.py\n@@/m)
  }, 120_000)
})
