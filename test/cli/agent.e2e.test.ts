import Database from "better-sqlite3"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, resolve } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { cliPath, runCli } from "../support/cli.js"

// provider agent end to end: `evolve run` with a coding agent as the proposer (the fake agent of
// test/support raises `VALUE` in the program file by one per proposal), and OpenEvolve's
// `llm.provider: claude_code` run through a stand-in `claude` on PATH.
const fakeAgent = resolve("test/support/fakeAgent.mjs")

const program = "# outside\n# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\nprint(VALUE)\n"
// Scores the program's VALUE (up to 10) without running it.
const evaluator = `import { readFileSync } from "node:fs"
const value = Number(/VALUE = (\\d+)/.exec(readFileSync(process.argv[2], "utf8"))?.[1] ?? 0)
console.log(JSON.stringify({ combined_score: Math.min(value, 10) / 10 }))
`

const workspace = (files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-agent-e2e-"))
  for (const [name, text] of Object.entries({ "program.py": program, "evaluator.mjs": evaluator, ...files })) {
    writeFileSync(join(dir, name), text)
  }
  return dir
}

const rows = <T>(db: string, sql: string): Array<T> => {
  const conn = new Database(db, { readonly: true })
  try {
    return conn.prepare(sql).all() as Array<T>
  } finally {
    conn.close()
  }
}

/** PATH without any real `claude`: node's own dir and the system's. */
const basePath = [dirname(process.execPath), ...(process.env.PATH ?? "").split(delimiter).filter((dir) => !existsSync(join(dir, "claude")))]
  .join(delimiter)

describe("provider agent end to end", () => {
  beforeAll(() => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
  })

  it("evolve run with a coding agent as proposer improves the program; its usage and cost are accounted", async () => {
    const config = [
      "goal: Make VALUE larger.",
      "seed: 1",
      "max_evaluations: 4",
      "concurrency: { proposals: 1, evaluations: 1 }",
      "llm:",
      "  provider: agent",
      "  agent:",
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fakeAgent)}, improve]`,
      "    timeout_seconds: 30"
    ].join("\n")
    const dir = workspace({ "evolve.yaml": config })
    const r = await runCli(["run", "program.py", "evaluator.mjs", "--config", "evolve.yaml", "--db", "a.db"], dir)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/evolving .*program\.py with the coding agent `.*fakeAgent\.mjs improve` \(llm\.provider: agent\)/)
    const programs = rows<{ score: number; llm_model: string | null; llm_usd: number | null; code: string }>(
      join(dir, "a.db"),
      "SELECT score, llm_model, llm_usd, code FROM programs WHERE status = 'evaluated' ORDER BY score DESC"
    )
    expect(programs[0]!.score).toBeGreaterThanOrEqual(0.3)
    expect(programs.at(-1)!.score).toBe(0.1)
    expect(programs[0]!).toMatchObject({ llm_model: "agent", llm_usd: 0.0125 })
    expect(programs[0]!.code).toContain("# outside\n# EVOLVE-BLOCK-START\nVALUE = ")
  })

  it("an agent that edits nothing or crashes: recorded failed proposals, the run still ends", async () => {
    const config = (mode: string) =>
      [
        "max_evaluations: 2",
        "concurrency: { proposals: 1, evaluations: 1 }",
        "max_consecutive_proposal_failures: 3",
        "llm:",
        "  provider: agent",
        "  agent:",
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fakeAgent)}, ${mode}]`
      ].join("\n")
    const dir = workspace({ "noop.yaml": config("noop"), "crash.yaml": config("crash") })
    for (const mode of ["noop", "crash"]) {
      const r = await runCli(["run", "program.py", "evaluator.mjs", "--config", `${mode}.yaml`, "--db", `${mode}.db`], dir)
      expect(r.status).not.toBe(null)
      expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/internal error|defect/i)
      const failures = rows<{ message: string }>(
        join(dir, `${mode}.db`),
        "SELECT error_message AS message FROM llm_calls WHERE error_message IS NOT NULL"
      )
      expect(failures.length).toBeGreaterThan(0)
      expect(failures[0]!.message).toContain(mode === "noop" ? "exited without editing the program" : "exited with code 3")
    }
  })

  it("OpenEvolve's llm.provider: claude_code runs `claude` (warned); missing, the preflight says so", async () => {
    const config = "max_iterations: 3\nrandom_seed: 1\nllm:\n  provider: claude_code\n  primary_model: sonnet\nevaluator:\n  timeout: 30\n"
    // OpenEvolve's contract: evaluate(program_path) in a Python evaluator.
    const evaluatorPy = [
      "import re",
      "def evaluate(program_path):",
      "    found = re.search(r'VALUE = (\\d+)', open(program_path).read())",
      "    return {'combined_score': min(int(found.group(1)) if found else 0, 10) / 10}",
      ""
    ].join("\n")
    const dir = workspace({ "config.yaml": config, "evaluator.py": evaluatorPy })
    const args = ["run", "program.py", "evaluator.py", "--config", "config.yaml", "--db", "c.db"]
    const missing = await runCli(args, dir, { PATH: basePath })
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain("llm.provider: claude_code runs the coding agent `claude -p --output-format json --permission-mode acceptEdits --model sonnet`")
    expect(missing.stderr).toContain("the agent command `claude` is not on PATH (Claude Code: npm install -g @anthropic-ai/claude-code)")

    // A stand-in `claude` that acts like the fake agent.
    const bin = join(dir, "bin")
    mkdirSync(bin)
    writeFileSync(join(bin, "claude"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(fakeAgent)} improve\n`)
    chmodSync(join(bin, "claude"), 0o755)
    const ok = await runCli(args, dir, { PATH: `${bin}${delimiter}${basePath}` })
    expect(ok.status, ok.stderr).toBe(0)
    const [best] = rows<{ score: number }>(join(dir, "c.db"), "SELECT max(score) AS score FROM programs WHERE status = 'evaluated'")
    expect(best!.score).toBeGreaterThan(0.1)
  })
})
