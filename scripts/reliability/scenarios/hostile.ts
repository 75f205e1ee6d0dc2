/**
 * 2. Hostile candidates. The fake LLM hands out, as full rewrites, the programs in
 * test/reliability/fixtures/hostile/ (infinite loop, ignores SIGTERM, setsid grandchildren and
 * daemons, allocates until stopped, 500 MB of output, death by signal, NaN/Infinity/non-JSON/no
 * output, a metrics.json that is a FIFO or /dev/zero, reads the environment for keys, writes
 * outside its temp dir). The evaluator runs the candidate in its own process (a `command`
 * evaluator that imports it). Each case must be contained, recorded with the right failure
 * kind, leave no process behind (ps scan for its marker), and the run must go on.
 *
 * Run twice: `sandbox: none` (the default) and `sandbox: bwrap` when bubblewrap works here.
 * A candidate that SIGKILLs evolve itself is run on its own: the run must resume afterwards.
 * 2e: the same attack from inside the warm Python pool (OpenEvolve contract), where the candidate
 * runs in a child of a long-lived worker: evolve must survive it and the run complete.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  check,
  committedEvaluations,
  integrityCheck,
  configFile,
  fixturesDir,
  killMatching,
  newResult,
  processesMatching,
  query,
  readText,
  runCli,
  type ScenarioResult,
  sleep,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"

type Expect = "scored" | "any" | "failed" | ReadonlyArray<string>

/** What each hostile program must end as: a failure kind (or one of several), scored, or any. */
const expectations: Record<string, Expect> = {
  "infinite-loop": ["timeout"],
  "ignores-sigterm": ["timeout"],
  "children-ignore-sigterm": ["timeout"],
  "setsid-grandchild": "any",
  "setsid-daemon": "any",
  "setsid-daemon-clean-env": "any",
  "many-children-exit": "any",
  allocates: ["evaluator_error", "timeout"],
  "prints-500mb": ["output_limit"],
  "stderr-500mb": ["output_limit"],
  "exits-by-signal": ["evaluator_error"],
  aborts: ["evaluator_error"],
  "exits-nonzero": ["evaluator_error"],
  "prints-nan": ["bad_metrics"],
  "prints-infinity": ["bad_metrics"],
  "prints-1e999": ["bad_metrics"],
  "prints-non-json": ["bad_metrics"],
  "prints-nothing": ["bad_metrics"],
  "string-score": ["bad_metrics"],
  "closes-pipes-hangs": ["timeout"],
  "metrics-fifo": "failed",
  "metrics-dev-zero": "failed",
  "reads-secrets": "scored",
  "writes-outside": "scored",
  "slow-but-fine": "scored"
}

/** Messages that must name the cause, per case. */
const messageMust: Record<string, RegExp> = {
  "exits-by-signal": /SIGSEGV/,
  aborts: /SIGABRT|abort/i,
  "prints-nan": /NaN|Infinity|finite/,
  "prints-infinity": /NaN|Infinity|finite/,
  "prints-1e999": /finite/,
  "prints-nothing": /no metrics|empty/i,
  "prints-non-json": /JSON/,
  "prints-500mb": /stdout/,
  "stderr-500mb": /stderr/
}

const runner = `// Runs the candidate in this process: the candidate is the evaluator.
import { pathToFileURL } from "node:url"
await import(pathToFileURL(process.argv[2]).href)
`
const initial = `// the initial program: well behaved
console.log(JSON.stringify({ combined_score: 0.001 }))
`

export const SECRET_KEY = "sk-reliability-SECRET-hostile-0123456789"
export const SECRET_TOKEN = "tok-reliability-SECRET-hostile-9876543210"

interface CaseOutcome {
  readonly name: string
  readonly status: string
  readonly kind: string | null
  readonly message: string
  readonly evalMs: number | null
  readonly leftovers: number
  readonly leftoverArgs: ReadonlyArray<string>
}

const bwrapWorks = () => {
  try {
    execFileSync("bwrap", ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "true"], { stdio: "ignore", timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

const hostileRun = async (
  name: string,
  sandbox: "none" | "bwrap",
  cases: ReadonlyArray<string>,
  benign: number,
  timeoutMs: number
) => {
  const ws = workspace(name)
  const outside = join(ws.dir, "outside")
  mkdirSync(outside, { recursive: true })
  const nonce = `relh${Date.now().toString(36)}${name.replace(/[^a-z]/g, "")}`
  writeFileSync(join(ws.dir, "runner.mjs"), runner)
  writeFileSync(join(ws.dir, "hostile_initial.mjs"), initial)
  const programs = cases.map((c) =>
    readFileSync(join(fixturesDir, "hostile", `${c}.mjs`), "utf8")
      .replaceAll("__MARKER__", `${nonce}-${c}`)
      .replaceAll("__OUTSIDE__", outside)
      .replaceAll("__SECRETS__", JSON.stringify([SECRET_KEY, SECRET_TOKEN]))
  )
  let next = 0
  const server = await startFakeOpenAiServer({
    latency: 5,
    seed: 5,
    responder: () => {
      const i = next++
      const code = i < programs.length
        ? programs[i]!
        : `// benign ${i}\nconsole.log(JSON.stringify({ combined_score: ${(i + 1) / 1000} }))\n`
      return `Here is the new program.\n\n\`\`\`javascript\n${code}\`\`\`\n`
    }
  })
  try {
    writeFileSync(
      join(ws.dir, "rel.yaml"),
      configFile({
        max_evaluations: 1 + cases.length + benign,
        edit_format: "full",
        llm: { provider: "openai-chat", base_url: server.url, model: "fake-coder", timeout_seconds: 5, max_retries: 1 },
        concurrency: { proposals: 4, evaluations: 4 },
        evaluator: {
          timeout_seconds: 3,
          kill_grace_seconds: 1,
          output_cap_bytes: 1 << 20,
          memory_mb: 1024,
          sandbox
        }
      })
    )
    // --no-preflight: the scripted server hands out its programs in order, and the preflight's probe would take the first.
    const result = await runCli(["run", "hostile_initial.mjs", "runner.mjs", "--config", "rel.yaml", "--db", ws.db, "--no-preflight"], {
      cwd: ws.dir,
      env: { OPENAI_API_KEY: SECRET_KEY, EVOLVE_TOKEN: SECRET_TOKEN },
      timeoutMs
    })
    await sleep(500)
    const leftovers = processesMatching([nonce, ws.tmp])
    const rows = existsSync(ws.db)
      ? query<{
        id: string
        code: string
        status: string
        failure_kind: string | null
        failure_message: string | null
        eval_ms: number | null
        metrics: string | null
      }>(ws.db, "SELECT id, code, status, failure_kind, failure_message, eval_ms, metrics FROM programs")
      : []
    // A leftover belongs to the longest case name in its marker (one name may prefix another).
    const owner = (args: string) =>
      [...cases].sort((a, b) => b.length - a.length).find((c) => args.includes(`${nonce}-${c}-`) || args.endsWith(`${nonce}-${c}`))
    const outcomes: Array<CaseOutcome> = cases.map((c) => {
      const row = rows.find((r) => r.code.includes(`HOSTILE:${c} `))
      const mine = leftovers.filter((p) => owner(p.args) === c || (row !== undefined && p.args.includes(row.id)))
      return {
        name: c,
        status: row?.status ?? "missing",
        kind: row?.failure_kind ?? null,
        message: row?.failure_message ?? "",
        evalMs: row?.eval_ms ?? null,
        leftovers: mine.length,
        leftoverArgs: mine.map((p) => `pid ${p.pid} pgid ${p.pgid}: ${p.args.slice(0, 120)}`)
      }
    })
    const killed = killMatching([nonce, ws.tmp])
    const reports = Object.fromEntries(
      readdirSync(outside).map((f) => [f, readText(join(outside, f))])
    )
    return { ws, result, outcomes, leftovers, killed, reports, rows, max: 1 + cases.length + benign }
  } finally {
    await server.close()
  }
}

const judge = (o: CaseOutcome): { ok: boolean; why: string } => {
  const expect = expectations[o.name]!
  const kind = o.kind ?? o.status
  let ok: boolean
  if (o.status === "missing" || o.status === "pending") ok = false
  else if (expect === "any") ok = true
  else if (expect === "scored") ok = o.status === "evaluated"
  else if (expect === "failed") ok = o.status === "failed" && o.message !== ""
  else ok = o.status === "failed" && expect.includes(o.kind ?? "") && o.message !== ""
  const must = messageMust[o.name]
  if (ok && must !== undefined && !must.test(o.message)) ok = false
  if (o.leftovers > 0) ok = false
  return {
    ok,
    why: `${o.status}${o.kind ? `/${kind}` : ""}${o.evalMs !== null ? ` in ${(o.evalMs / 1000).toFixed(1)} s` : ""}${
      o.leftovers > 0 ? `, ${o.leftovers} process(es) left behind (${o.leftoverArgs.join("; ")})` : ""
    }${o.message ? `: ${o.message.split("\n")[0]!.slice(0, 140)}` : ""}`
  }
}

/** The traps: metrics.json replaced by something evolve must not block on or read forever. */
const trapCases = ["metrics-fifo", "metrics-dev-zero"]

const recordCases = (result: ScenarioResult, label: string, outcomes: ReadonlyArray<CaseOutcome>) => {
  for (const o of outcomes) {
    const { ok, why } = judge(o)
    result.attempts++
    if (ok) result.survived++
    check(result, `[${label}] ${o.name}: contained and recorded as ${JSON.stringify(expectations[o.name])}`, ok, why)
    result.figures[`[${label}] ${o.name}`] = why
  }
}

/**
 * Contained only by a pid namespace (evolve's per-evaluation namespace, or sandbox: bwrap): reported
 * on its own row under sandbox: none, where it fails when that namespace is unavailable here.
 */
const namespaceOnly = "setsid-daemon-clean-env"

const runAll = async (result: ScenarioResult, sandbox: "none" | "bwrap", escapes?: ScenarioResult) => {
  const cases = Object.keys(expectations).filter((c) => !trapCases.includes(c))
  const run = await hostileRun(`hostile-${sandbox}`, sandbox, cases, 3, 150_000)
  check(
    result,
    `[${sandbox}] the run goes on and completes (exit 0)`,
    run.result.code === 0,
    `exit ${run.result.code}${run.result.timedOut ? " (still running after 150 s: killed)" : ""}\n${(run.result.stdout + run.result.stderr).slice(-600)}`
  )
  const evaluations = existsSync(run.ws.db) ? committedEvaluations(run.ws.db) : 0
  check(result, `[${sandbox}] evaluations committed = ${run.max}`, evaluations === run.max, `${evaluations}`)
  recordCases(result, sandbox, run.outcomes.filter((o) => escapes === undefined || o.name !== namespaceOnly))
  if (escapes !== undefined) recordCases(escapes, sandbox, run.outcomes.filter((o) => o.name === namespaceOnly))
  const strays = run.leftovers.filter((p) => !run.outcomes.some((o) => p.args.includes(`-${o.name}`)))
  check(result, `[${sandbox}] no unattributed process left behind`, strays.length === 0, strays.map((p) => `${p.pid} ${p.args}`).join("\n"))

  // What the environment-reading candidate found: from its metrics (always) and its report (when it could write it).
  const secretsRow = run.rows.find((r) => r.code.includes("HOSTILE:reads-secrets "))
  const m = secretsRow?.metrics ? JSON.parse(secretsRow.metrics) as Record<string, number> : undefined
  if (m === undefined) {
    check(result, `[${sandbox}] reads-secrets reported its findings`, false, secretsRow ? `${secretsRow.status}: ${secretsRow.failure_message}` : "no row")
  } else {
    check(result, `[${sandbox}] reads-secrets: no key or token in the candidate's own environment`, m["own_env_secret"] === 0, JSON.stringify(m))
    const report = Object.entries(run.reports).find(([f]) => f.startsWith("secrets-"))?.[1]
    const names = report ? (JSON.parse(report) as { ownEnvNames: Array<string> }).ownEnvNames.join(" ") : "(report not written)"
    result.figures[`[${sandbox}] the candidate's environment`] = names
    result.figures[`[${sandbox}] secrets readable through /proc/<ancestor>/environ`] = m["ancestor_secret"] === 1
      ? "YES: evolve's own environment (API key, token) is readable by the candidate"
      : `no (${m["ancestors_seen"]} ancestors visible, environ readable: ${m["ancestor_environ_readable"] === 1 ? "yes" : "no"})`
    if (m["ancestor_secret"] === 1) {
      result.notes.push(
        `[${sandbox}] a candidate running as the same user reads evolve's own environment through /proc/<ppid>/environ, ` +
          "API key and token included: scrubbing the evaluator's environment does not prevent this (sandbox: bwrap does)."
      )
    }
  }
  const outsideRow = run.rows.find((r) => r.code.includes("HOSTILE:writes-outside "))
  const om = outsideRow?.metrics ? JSON.parse(outsideRow.metrics) as Record<string, number> : {}
  const wrote = om["wrote_outside"] === 1 || Object.keys(run.reports).some((f) => f.startsWith("written-"))
  const dbWritable = om["db_writable"] === 1
  result.figures[`[${sandbox}] writes outside its temp dir`] = `${wrote ? "POSSIBLE" : "blocked"}; opening evolve's database for writing: ${
    dbWritable ? "POSSIBLE" : "blocked"
  }`
  if (wrote && sandbox === "none") {
    result.notes.push(
      "[none] with the command contract and sandbox: none a candidate can write anywhere the user can, evolve's own database " +
        "included (found through /proc/<ppid>/fd): not contained by design; evaluator.sandbox: bwrap confines it."
    )
  }
  if (sandbox === "bwrap") {
    check(result, "[bwrap] a candidate cannot write outside its temp dir", !wrote, JSON.stringify(om))
    check(result, "[bwrap] a candidate cannot open evolve's database for writing", !dbWritable, JSON.stringify(om))
  }
}

export const hostileCandidates = async (options: Options): Promise<Array<ScenarioResult>> => {
  const result = newResult("2", "Hostile candidates (command contract)")
  const escapes = newResult("2d", "Daemon that drops its environment too (sandbox: none)")
  await runAll(result, "none", escapes)
  if (bwrapWorks()) await runAll(result, "bwrap")
  else result.notes.push("bubblewrap is not usable here: the sandbox: bwrap pass was skipped")
  result.lost = result.attempts - result.survived
  escapes.lost = escapes.attempts - escapes.survived
  if (escapes.lost > 0) {
    escapes.notes.push(
      "a daemon in a new session, with its stdio closed and its environment dropped, is found neither by the process group, " +
        "nor by the process tree (its parent exited), nor by the environment marker: only a pid namespace contains it. " +
        "evolve runs each evaluation in its own pid namespace (setpriv + unshare) when the machine allows it; here it did not " +
        "(see evolve's warning: util-linux missing, or unprivileged user namespaces disabled). sandbox: bwrap contains it too (row 2)."
    )
  }

  // 2b: metrics.json as a FIFO nobody writes to, or a symlink to /dev/zero.
  const traps = newResult("2b", "Hostile candidates: metrics.json traps (FIFO, /dev/zero)")
  const trapLimit = options.quick ? 30_000 : 60_000
  const trapRun = await hostileRun("hostile-traps", "none", trapCases, 2, trapLimit)
  check(
    traps,
    "the run goes on and completes (exit 0)",
    trapRun.result.code === 0,
    `exit ${trapRun.result.code}${trapRun.result.timedOut ? ` (still running after ${trapLimit / 1000} s: killed)` : ""}`
  )
  recordCases(traps, "none", trapRun.outcomes)
  traps.lost = traps.attempts - traps.survived

  // 2c: a candidate that SIGKILLs its parent. In evolve's per-evaluation pid namespace its parent is
  // the namespace's init (immune to it) and evolve is out of sight; without that namespace it kills
  // evolve, and the run must stay resumable (the same candidate runs again on resume).
  const killer = newResult("2c", "Hostile candidate that SIGKILLs evolve (sandbox: none)")
  const run = await hostileRun("hostile-kills-evolve", "none", ["kills-evolve"], 2, 60_000)
  const died = run.result.signal === "SIGKILL" || run.result.code === 137
  killer.attempts = 1
  killer.figures["first run"] = died ? "evolve was SIGKILLed by its candidate" : `evolve survived (exit ${run.result.code})`
  const committedBefore = committedEvaluations(run.ws.db)
  let resumes = 0
  let last = run.result
  while (resumes < 3 && (last.signal === "SIGKILL" || last.code === 137)) {
    resumes++
    last = await runCli(["resume", "--db", run.ws.db], { cwd: run.ws.dir, env: { OPENAI_API_KEY: SECRET_KEY }, timeoutMs: 60_000 })
  }
  killer.figures["resumes"] = `${resumes}, last exit ${last.code ?? last.signal}`
  const integrity = integrityCheck(run.ws.db)
  check(killer, "the database survives (integrity ok, committed results kept)", integrity === "ok" && committedEvaluations(run.ws.db) >= committedBefore, integrity)
  const finished = last.code === 0
  killer.figures["outcome"] = finished
    ? "resumed to completion"
    : "the candidate is never committed, so every resume evaluates it again and dies again (a poison pill)"
  if (!finished) {
    killer.notes.push(
      "a candidate that kills evolve is re-queued by every resume (its evaluation never commits) and kills it again: the run can " +
        "never finish. Proposed: count evaluation starts per candidate and fail it (kind evaluator_error, \"crashed evolve N times\") " +
        "after N, or use sandbox: bwrap, where a candidate cannot see evolve."
    )
  }
  killer.survived = finished ? 1 : 0
  killer.lost = 0
  if (!finished) killer.verdict = "FAIL"
  killMatching([run.ws.dir])
  return [result, traps, killer, escapes, await poolKiller()]
}

/** An OpenEvolve candidate that walks up its ancestors and SIGKILLs the first node process (evolve). */
const poolKillerProgram = `import os, signal

def run():
    found = 0
    pid = os.getppid()
    while pid > 1:
        try:
            stat = open("/proc/%d/stat" % pid).read()
        except OSError:
            break
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith("node"):
            os.kill(pid, signal.SIGKILL)
            found = 1
            break
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return {"score": 1.0, "found_evolve": found}
`

const poolKillerEvaluator = `import importlib.util

def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run()
`

const poolKiller = async (): Promise<ScenarioResult> => {
  const result = newResult("2e", "Hostile candidate that SIGKILLs evolve (warm Python pool)")
  for (const sandbox of bwrapWorks() ? ["none", "bwrap"] as const : ["none"] as const) {
    const ws = workspace(`hostile-pool-killer-${sandbox}`)
    writeFileSync(join(ws.dir, "killer.py"), poolKillerProgram)
    writeFileSync(join(ws.dir, "evaluator.py"), poolKillerEvaluator)
    writeFileSync(
      join(ws.dir, "pool.yaml"),
      configFile({
        language: "python",
        goal: "Return a score.",
        max_evaluations: 4,
        evaluator: { contract: "openevolve", sandbox, timeout_seconds: 20 }
      })
    )
    const run = await runCli(["run", "killer.py", "evaluator.py", "--config", "pool.yaml", "--db", ws.db], {
      cwd: ws.dir,
      env: { OPENAI_API_KEY: SECRET_KEY },
      timeoutMs: 60_000
    })
    result.attempts++
    const killed = run.signal === "SIGKILL" || run.code === 137
    const survived = check(result, `[${sandbox}] evolve survives and the run completes (exit 0)`, run.code === 0, killed ? "evolve was SIGKILLed by its candidate" : `exit ${run.code ?? run.signal}\n${(run.stdout + run.stderr).slice(-600)}`)
    if (survived) result.survived++
    const evaluations = existsSync(ws.db) ? committedEvaluations(ws.db) : 0
    check(result, `[${sandbox}] evaluations committed = 4`, evaluations === 4, `${evaluations}`)
    const found = existsSync(ws.db)
      ? query<{ n: number }>(ws.db, "SELECT COUNT(*) AS n FROM programs WHERE json_extract(metrics, '$.found_evolve') = 1")[0]!.n
      : 0
    result.figures[`[${sandbox}] candidates that found a node ancestor to kill`] = String(found)
    killMatching([ws.dir])
  }
  result.lost = result.attempts - result.survived
  return result
}
