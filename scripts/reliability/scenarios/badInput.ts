/**
 * 4. Bad input: malformed configs, command lines, environment variables and database paths.
 * Each must exit with code 2 and a message naming the problem, without a stack trace, and must
 * not start a run. Cases that need a non-root user (unreadable files) run under `setpriv` as
 * nobody when this process is root.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  check,
  type CliResult,
  looksLikeStackTrace,
  newResult,
  root,
  runCli,
  type ScenarioResult,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"

interface Case {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** The output must match: it names the problem. */
  readonly expect: RegExp
  /** Run as nobody (root reads any file). */
  readonly asNobody?: boolean
}

const run = ["run", "initial_program.mjs", "evaluator.mjs"] as const
const yamlCase = (name: string, yaml: string, expect: RegExp): Case & { yaml: string } => ({
  name: `config: ${name}`,
  args: [...run, "--config", `${name.replace(/\W+/g, "_")}.yaml`, "--iterations", "1"],
  expect,
  yaml
})

export const badInput = async (_options: Options): Promise<ScenarioResult> => {
  const result = newResult("4", "Bad input (configs, command lines, env, paths)")
  const ws = workspace("bad-input")
  const dir = ws.dir
  // A database with one finished run, for resume/show/best cases.
  const made = await runCli([...run, "--config", "evolve.yaml", "--iterations", "2", "--db", "run.db"], { cwd: dir, timeoutMs: 60_000 })
  check(result, "set-up run", made.code === 0, made.stderr)

  const yamlCases = [
    // Not max_evaluations: --iterations would replace it before validation (as a flag may).
    yamlCase("wrong type", "budget_usd: lots\n", /budget_usd/),
    yamlCase("unknown key", "max_evaluation: 5\n", /max_evaluation\b.*unknown key/),
    yamlCase("unknown nested key", "llm:\n  modle: gpt\n", /llm\.modle.*unknown key/),
    yamlCase("bad YAML", "concurrency: [1, 2\nllm: {\n", /invalid YAML/),
    yamlCase("top-level list", "- a\n- b\n", /mapping/),
    yamlCase("negative limit", "concurrency:\n  proposals: -5\n", /concurrency\.proposals.*-5/),
    yamlCase("zero concurrency", "concurrency:\n  evaluations: 0\n", /concurrency\.evaluations/),
    yamlCase("negative timeout", "evaluator:\n  timeout_seconds: -1\n", /evaluator\.timeout_seconds/),
    yamlCase("bad enum", "edit_format: patchy\n", /edit_format/),
    yamlCase("temperature out of range", "llm:\n  temperature: 5\n", /llm\.temperature/),
    yamlCase("duplicate key", "seed: 1\nseed: 2\n", /seed|unique|duplicate/i),
    yamlCase("empty evaluator command", "evaluator:\n  command: []\n", /evaluator\.command/),
    yamlCase("string for a number", "concurrency:\n  proposals: four\n", /concurrency\.proposals/),
    yamlCase("fractional concurrency", "concurrency:\n  proposals: 1.5\n", /concurrency\.proposals/),
    yamlCase("bad contract", "evaluator:\n  contract: magic\n", /evaluator\.contract/),
    yamlCase("non-http base_url", "llm:\n  provider: openai-chat\n  base_url: not a url\n", /base_url/)
  ]
  for (const c of yamlCases) writeFileSync(join(dir, c.args[4]!), c.yaml)

  mkdirSync(join(dir, "adir"), { recursive: true })
  mkdirSync(join(dir, "confdir"), { recursive: true })
  writeFileSync(join(dir, "garbage.db"), Buffer.from("this is not an SQLite database ".repeat(200)))
  writeFileSync(join(dir, "garbage.yaml"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)))
  writeFileSync(join(dir, "eval.bin"), "#!/bin/sh\necho '{\"score\": 1}'\n")
  chmodSync(join(dir, "eval.bin"), 0o644)

  const cases: Array<Case> = [
    ...yamlCases,
    { name: "config file missing", args: [...run, "--config", "nope.yaml"], expect: /nope\.yaml/ },
    { name: "config is a directory", args: [...run, "--config", "confdir"], expect: /confdir/ },
    { name: "config is binary garbage", args: [...run, "--config", "garbage.yaml"], expect: /garbage\.yaml/ },
    { name: "program missing", args: ["run", "nope.mjs", "evaluator.mjs"], expect: /nope\.mjs/ },
    { name: "evaluator missing", args: ["run", "initial_program.mjs", "nope_eval.mjs"], expect: /nope_eval\.mjs/ },
    { name: "program is a directory", args: ["run", "adir", "evaluator.mjs"], expect: /program.*adir/ },
    { name: "evaluator is a directory", args: ["run", "initial_program.mjs", "adir"], expect: /evaluator.*adir/ },
    { name: "evaluator not executable (no interpreter known)", args: ["run", "initial_program.mjs", "eval.bin", "--iterations", "1", "--db", "x1.db"], expect: /eval\.bin.*(executable|permission)/i },
    { name: "unknown subcommand", args: ["frobnicate"], expect: /frobnicate|subcommand/i },
    { name: "run without arguments", args: ["run"], expect: /program/ },
    { name: "run without evaluator", args: ["run", "initial_program.mjs"], expect: /evaluator/ },
    { name: "flag: --iterations many", args: [...run, "--iterations", "many"], expect: /iterations/ },
    { name: "flag: --iterations 0", args: [...run, "--iterations", "0"], expect: /iterations/ },
    { name: "flag: --iterations -3", args: [...run, "--iterations", "-3"], expect: /iterations/ },
    { name: "flag: --parallel 0", args: [...run, "--parallel", "0"], expect: /parallel/ },
    { name: "flag: --timeout -1", args: [...run, "--timeout", "-1"], expect: /timeout/ },
    { name: "flag: --max-seconds 0", args: [...run, "--max-seconds", "0"], expect: /max-seconds/ },
    { name: "flag: --target-score abc", args: [...run, "--target-score", "abc"], expect: /target-score/ },
    { name: "flag: --provider bogus", args: [...run, "--provider", "bogus"], expect: /provider/ },
    { name: "unknown flag", args: [...run, "--bogus"], expect: /bogus/ },
    { name: "env: EVOLVE_PARALLEL=abc", args: [...run], env: { EVOLVE_PARALLEL: "abc" }, expect: /EVOLVE_PARALLEL/ },
    { name: "env: EVOLVE_ITERATIONS=1.5", args: [...run], env: { EVOLVE_ITERATIONS: "1.5" }, expect: /EVOLVE_ITERATIONS/ },
    { name: "env: EVOLVE_EVAL_TIMEOUT=soon", args: [...run], env: { EVOLVE_EVAL_TIMEOUT: "soon" }, expect: /EVOLVE_EVAL_TIMEOUT/ },
    { name: "env: EVOLVE_PROVIDER=nope", args: [...run], env: { EVOLVE_PROVIDER: "nope" }, expect: /EVOLVE_PROVIDER/ },
    { name: "env: EVOLVE_LLM_CONCURRENCY=0", args: [...run], env: { EVOLVE_LLM_CONCURRENCY: "0" }, expect: /EVOLVE_LLM_CONCURRENCY/ },
    { name: "resume: unknown run id", args: ["resume", "run_nope", "--db", "run.db"], expect: /run_nope/ },
    { name: "resume: missing database", args: ["resume", "--db", "empty.db"], expect: /empty\.db: no such file/ },
    { name: "resume: --iterations 0", args: ["resume", "--db", "run.db", "--iterations", "0"], expect: /iterations/ },
    { name: "run: --db is a directory", args: [...run, "--iterations", "1", "--db", "adir"], expect: /adir/ },
    { name: "resume: --db is a directory", args: ["resume", "--db", "adir"], expect: /adir/ },
    { name: "ls: EVOLVE_DB is a directory", args: ["ls"], env: { EVOLVE_DB: "adir" }, expect: /adir/ },
    { name: "ls: --db is not an SQLite file", args: ["ls", "--db", "garbage.db"], expect: /garbage\.db/ },
    { name: "show: unknown program", args: ["show", "p_nope", "--db", "run.db"], expect: /p_nope/ },
    { name: "best: unknown run", args: ["best", "run_nope", "--db", "run.db"], expect: /run_nope/ },
    { name: "best -o into a missing directory", args: ["best", "--db", "run.db", "-o", join(dir, "no/such/dir/best.mjs")], expect: /no\/such\/dir/ }
  ]

  // Unreadable files: only meaningful for a non-root user.
  if (process.getuid?.() === 0) {
    const nobodyDir = join(root(), "bad-input-nobody")
    mkdirSync(nobodyDir, { recursive: true })
    chmodSync(root(), 0o755)
    chmodSync(nobodyDir, 0o777)
    for (const f of ["initial_program.mjs", "evaluator.mjs"]) writeFileSync(join(nobodyDir, f), "// x\n")
    writeFileSync(join(nobodyDir, "secret_eval.mjs"), "console.log('{\"score\":1}')\n")
    writeFileSync(join(nobodyDir, "secret.yaml"), "seed: 1\n")
    chmodSync(join(nobodyDir, "secret_eval.mjs"), 0o000)
    chmodSync(join(nobodyDir, "secret.yaml"), 0o000)
    cases.push(
      { name: "evaluator unreadable", args: ["run", "initial_program.mjs", "secret_eval.mjs", "--db", "n.db"], expect: /secret_eval\.mjs.*not readable/, asNobody: true },
      { name: "config unreadable", args: [...run, "--config", "secret.yaml", "--db", "n.db"], expect: /secret\.yaml.*(cannot read|permission|denied)/i, asNobody: true }
    )
  } else {
    result.notes.push("not root: unreadable-file cases skipped")
  }

  // Six at a time: each case is a separate CLI process that should exit within a second.
  const outcomes = new Map<Case, CliResult>()
  let nextCase = 0
  const worker = async () => {
    while (nextCase < cases.length) {
      const c = cases[nextCase++]!
      const cwd = c.asNobody ? join(root(), "bad-input-nobody") : dir
      outcomes.set(c, await runCli(c.args, { cwd, env: c.env, timeoutMs: 30_000, asUser: c.asNobody ? 65534 : undefined }))
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker))
  for (const c of cases) {
    const r = outcomes.get(c)!
    const out = `${r.stdout}\n${r.stderr}`
    const named = c.expect.test(out)
    const trace = looksLikeStackTrace(out)
    const ok = r.code === 2 && named && !trace && !r.timedOut
    result.attempts++
    if (ok) result.survived++
    check(
      result,
      `${c.name}: exit 2, names the problem, no stack trace`,
      ok,
      `exit ${r.timedOut ? "— (still running after 30 s: killed)" : r.code}${named ? "" : ", message does not name it"}${trace ? ", STACK TRACE" : ""}: ${
        out.trim().split("\n").slice(0, 3).join(" | ").slice(0, 300)
      }`
    )
  }
  result.lost = result.attempts - result.survived
  return result
}
