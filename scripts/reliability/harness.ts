/**
 * Shared machinery of the reliability suite: where things are, workspaces, running the real CLI
 * (always asynchronously: the fake servers live in this process), reading the SQLite file,
 * scanning for processes left behind, and the per-scenario result with its checks.
 *
 * Everything is bounded: every CLI invocation has a deadline (its process group is SIGKILLed
 * when it passes), every poll loop has a deadline, and all traffic stays on 127.0.0.1.
 */
import Database from "better-sqlite3"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { mulberry32 } from "../../test/support/FakeOpenAiServer.js"

// ---- locations ---------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))

/** The repository root: this file runs from dist/scripts/reliability/ (or from a bundle given REL_REPO). */
export const repoRoot = process.env["EVOLVE_REL_REPO"] ?? resolve(here, "../../..")
export const fixturesDir = join(repoRoot, "test/reliability/fixtures")
export const exampleDir = join(repoRoot, "examples/function_minimization")

let cliPath = join(repoRoot, "dist/bin/evolve.mjs")
export const setCliPath = (path: string) => {
  cliPath = resolve(path)
}
export const getCliPath = () => cliPath

/** Every workspace of this suite lives under one unique root, so leftover processes are easy to find. */
let suiteRoot: string | undefined
export const root = (): string => {
  if (suiteRoot === undefined) suiteRoot = mkdtempSync(join(tmpdir(), "evolve-rel-"))
  return suiteRoot
}

export interface Workspace {
  readonly dir: string
  /** TMPDIR of the CLI: evolve's per-candidate temp dirs land here. */
  readonly tmp: string
  readonly db: string
}

/** A fresh directory holding a copy of the function-minimization example. */
export const workspace = (name: string): Workspace => {
  const dir = join(root(), name)
  mkdirSync(dir, { recursive: true })
  cpSync(exampleDir, dir, { recursive: true })
  const tmp = join(dir, "tmp")
  mkdirSync(tmp, { recursive: true })
  return { dir, tmp, db: join(dir, "run.db") }
}

// ---- results -------------------------------------------------------------------------------------

export type Verdict = "PASS" | "FAIL" | "PENDING" | "SKIP"

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface ScenarioResult {
  readonly id: string
  readonly title: string
  verdict: Verdict
  attempts: number
  survived: number
  lost: number
  readonly checks: Array<Check>
  readonly notes: Array<string>
  /** Measured figures worth printing (name → value). */
  readonly figures: Record<string, string | number>
  ms: number
}

export const newResult = (id: string, title: string): ScenarioResult => ({
  id,
  title,
  verdict: "PASS",
  attempts: 0,
  survived: 0,
  lost: 0,
  checks: [],
  notes: [],
  figures: {},
  ms: 0
})

/** Records a check; a failed one fails the scenario. */
export const check = (result: ScenarioResult, name: string, ok: boolean, detail = ""): boolean => {
  result.checks.push({ name, ok, detail })
  if (!ok && result.verdict !== "PENDING") result.verdict = "FAIL"
  return ok
}

// ---- time ------------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** Polls `predicate` every `everyMs` until it holds (true) or `timeoutMs` passes (false). */
export const waitFor = async (predicate: () => boolean, timeoutMs: number, everyMs = 25): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (predicate()) return true
    await sleep(everyMs)
  }
  return predicate()
}

/** The fake server's seeded PRNG (mulberry32), so scenario choices are reproducible. */
export const rng = mulberry32

export const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex")

// ---- the CLI ---------------------------------------------------------------------------------------

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
  /** The deadline passed and the process group was killed. */
  readonly timedOut: boolean
}

export interface CliOptions {
  readonly cwd: string
  /** Added to the minimal environment (PATH, HOME, TMPDIR, NO_COLOR); nothing else is inherited. */
  readonly env?: Record<string, string> | undefined
  readonly tmp?: string | undefined
  readonly timeoutMs: number
  /** Run under this uid/gid (setpriv), e.g. to test files root could read anyway. */
  readonly asUser?: number | undefined
}

export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly done: Promise<CliResult>
  /** Output so far. */
  readonly output: () => { stdout: string; stderr: string }
}

export const baseEnv = (cwd: string, tmp?: string): Record<string, string> => ({
  PATH: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
  HOME: cwd,
  TMPDIR: tmp ?? join(cwd, "tmp"),
  NO_COLOR: "1",
  LANG: "C.UTF-8",
  // For diagnosing a scenario, e.g. EVOLVE_REL_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2.
  ...(process.env["EVOLVE_REL_NODE_OPTIONS"] ? { NODE_OPTIONS: process.env["EVOLVE_REL_NODE_OPTIONS"] } : {})
})

/**
 * Starts the CLI. Its own process group (detached) lets a deadline kill it with everything it
 * started in that group; `child.kill("SIGKILL")` kills the CLI process alone (a crash).
 */
export const startCli = (args: ReadonlyArray<string>, options: CliOptions): CliProcess => {
  const env = { ...baseEnv(options.cwd, options.tmp), ...options.env }
  mkdirSync(env["TMPDIR"]!, { recursive: true })
  const argv = options.asUser === undefined
    ? [process.execPath, cliPath, ...args]
    : ["setpriv", `--reuid=${options.asUser}`, `--regid=${options.asUser}`, "--clear-groups", process.execPath, cliPath, ...args]
  const started = performance.now()
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => {
    if (stdout.length < 4_000_000) stdout += d.toString()
  })
  child.stderr!.on("data", (d: Buffer) => {
    if (stderr.length < 4_000_000) stderr += d.toString()
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    try {
      process.kill(-child.pid!, "SIGKILL")
    } catch {
      // already gone
    }
  }, options.timeoutMs)
  const done = new Promise<CliResult>((resolveDone) => {
    child.on("error", (error) => {
      clearTimeout(timer)
      resolveDone({ code: null, signal: null, stdout, stderr: stderr + String(error), ms: performance.now() - started, timedOut })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolveDone({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut })
    })
  })
  return { child, pid: child.pid!, done, output: () => ({ stdout, stderr }) }
}

export const runCli = (args: ReadonlyArray<string>, options: CliOptions): Promise<CliResult> => startCli(args, options).done

/** A stack trace or an internal-error banner: what a user must never see for bad input. */
export const looksLikeStackTrace = (text: string) =>
  /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m.test(text) || /internal error/i.test(text) || /\bTypeError\b|\bReferenceError\b/.test(text)

// ---- the database ----------------------------------------------------------------------------------

export const withDb = <A>(path: string, f: (db: Database.Database) => A, readonly = true): A => {
  const db = new Database(path, { readonly, fileMustExist: true })
  try {
    db.pragma("busy_timeout = 5000")
    return f(db)
  } finally {
    db.close()
  }
}

export const query = <T>(path: string, sql: string, ...params: Array<unknown>): Array<T> =>
  withDb(path, (db) => db.prepare(sql).all(...params) as Array<T>)

export const integrityCheck = (path: string): string =>
  withDb(path, (db) => (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join("; "))

export const EVAL_KINDS = "('evaluator_error','timeout','output_limit','bad_metrics')"

/** Evaluations committed: scored, or failed after reaching the evaluator. */
export const committedEvaluations = (path: string, runId?: string): number =>
  query<{ n: number }>(
    path,
    `SELECT COUNT(*) AS n FROM programs WHERE (status = 'evaluated' OR (status = 'failed' AND failure_kind IN ${EVAL_KINDS}))` +
      (runId ? " AND run_id = ?" : ""),
    ...(runId ? [runId] : [])
  )[0]!.n

export interface CommittedRow {
  readonly id: string
  readonly status: string
  readonly score: number | null
  readonly metrics: string | null
  readonly failure_kind: string | null
  readonly failure_message: string | null
  readonly evaluated_at: number | null
  readonly code: string
}

/** Every row whose status is final (not pending), by id. */
export const committedRows = (path: string): Map<string, CommittedRow> =>
  new Map(
    query<CommittedRow>(
      path,
      "SELECT id, status, score, metrics, failure_kind, failure_message, evaluated_at, code FROM programs WHERE status <> 'pending'"
    ).map((r) => [r.id, r])
  )

/** Rows of `before` that are missing or different in `after`. */
export const lostOrChanged = (before: Map<string, CommittedRow>, after: Map<string, CommittedRow>): Array<string> => {
  const bad: Array<string> = []
  for (const [id, row] of before) {
    const now = after.get(id)
    if (now === undefined) bad.push(`${id} lost`)
    else if (JSON.stringify(now) !== JSON.stringify(row)) bad.push(`${id} changed (${row.status} → ${now.status})`)
  }
  return bad
}

// ---- processes ---------------------------------------------------------------------------------------

export interface ProcessRow {
  readonly pid: number
  readonly pgid: number
  readonly args: string
}

export const processes = (): Array<ProcessRow> => {
  const out = execFileSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8", maxBuffer: 16 << 20 })
  return out.split("\n").flatMap((line) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)
    return m ? [{ pid: Number(m[1]), pgid: Number(m[2]), args: m[3]! }] : []
  }).filter((p) => p.pid !== process.pid)
}

/** Processes whose command line contains any of `markers` (ps itself excluded). */
export const processesMatching = (markers: ReadonlyArray<string>): Array<ProcessRow> =>
  processes().filter((p) => !p.args.startsWith("ps ") && markers.some((m) => p.args.includes(m)))

/** SIGKILLs processes we started (found by our markers); returns how many. */
export const killMatching = (markers: ReadonlyArray<string>): number => {
  const found = processesMatching(markers)
  for (const p of found) {
    try {
      process.kill(p.pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  return found.length
}

// ---- files -----------------------------------------------------------------------------------------

/** Every regular file below `dir` (symlinks not followed). */
export const filesBelow = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (d: string) => {
    let entries: Array<string>
    try {
      entries = readdirSync(d)
    } catch {
      return
    }
    for (const name of entries) {
      const p = join(d, name)
      let s
      try {
        s = statSync(p, { throwIfNoEntry: false })
      } catch {
        continue
      }
      if (s === undefined) continue
      if (s.isDirectory()) walk(p)
      else if (s.isFile()) out.push(p)
    }
  }
  walk(dir)
  return out
}

/** Files below `dir` (and the given extra files) containing `needle`. */
export const filesContaining = (dir: string, needle: string, extra: ReadonlyArray<string> = []): Array<string> => {
  const bytes = Buffer.from(needle)
  return [...filesBelow(dir), ...extra.filter((f) => existsSync(f))].filter((f) => {
    try {
      return readFileSync(f).includes(bytes)
    } catch {
      return false
    }
  })
}

export const readText = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "")

/** The function-minimization config with run-specific overrides, as YAML (JSON is YAML). */
export const configFile = (overrides: Record<string, unknown>): string => {
  const base: Record<string, unknown> = {
    goal: "Minimise the black-box 2-D function given to search(f, bounds, budget, rng).",
    language: "javascript",
    seed: 42,
    edit_format: "diff",
    evaluator: { timeout_seconds: 10 }
  }
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a }
    for (const [k, v] of Object.entries(b)) {
      out[k] = typeof v === "object" && v !== null && !Array.isArray(v) && typeof out[k] === "object" && out[k] !== null
        ? merge(out[k] as Record<string, unknown>, v as Record<string, unknown>)
        : v
    }
    return out
  }
  return JSON.stringify(merge(base, overrides), null, 2) + "\n"
}

/**
 * An evaluator wrapper that appends `<sha256 of the candidate> <epoch ms> <pid>` to `log`
 * before evaluating it with the example's evaluator (same as test/cli/cli.e2e.test.ts).
 */
export const countingEvaluator = (log: string) =>
  `import { appendFileSync, readFileSync } from "node:fs"
import { createHash } from "node:crypto"
const code = readFileSync(process.argv[2], "utf8")
appendFileSync(${JSON.stringify(log)}, createHash("sha256").update(code).digest("hex") + " " + Date.now() + " " + process.pid + "\\n")
await import("./evaluator.mjs")
`

export interface LogEntry {
  readonly hash: string
  readonly at: number
  readonly pid: number
}

export const readLog = (path: string): Array<LogEntry> =>
  readText(path).split("\n").filter((l) => l.trim() !== "").map((l) => {
    const [hash, at, pid] = l.split(" ")
    return { hash: hash!, at: Number(at), pid: Number(pid) }
  })

export const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(1)} s`)

export interface LogAnalysis {
  readonly entries: number
  readonly committed: number
  /** Evaluation starts of a committed candidate after its commit time: must be 0. */
  readonly afterCommit: number
  readonly violations: ReadonlyArray<string>
  /** Extra starts before the commit: evaluations in flight at a crash, redone after resume. */
  readonly inFlightAgain: number
  /** Committed results without any logged evaluation start. */
  readonly unlogged: number
  /** Code hashes committed more than once. */
  readonly duplicateCommits: number
}

/** The counting evaluator's log against the committed results of `db`. */
export const analyzeEvaluationLog = (db: string, log: string): LogAnalysis => {
  const entries = readLog(log)
  const byHash = new Map<string, Array<number>>()
  for (const e of entries) byHash.set(e.hash, [...(byHash.get(e.hash) ?? []), e.at])
  const committed = query<{ id: string; code: string; evaluated_at: number }>(
    db,
    `SELECT id, code, evaluated_at FROM programs WHERE status = 'evaluated' OR (status = 'failed' AND failure_kind IN ${EVAL_KINDS})`
  )
  let afterCommit = 0
  let inFlightAgain = 0
  let unlogged = 0
  const violations: Array<string> = []
  const committedHashes = new Map<string, number>()
  for (const row of committed) {
    const hash = sha256(row.code)
    committedHashes.set(hash, (committedHashes.get(hash) ?? 0) + 1)
    const starts = byHash.get(hash) ?? []
    const before = starts.filter((t) => t <= row.evaluated_at).length
    const after = starts.filter((t) => t > row.evaluated_at).length
    if (before === 0) unlogged++
    inFlightAgain += Math.max(0, before - 1)
    if (after > 0) {
      afterCommit += after
      violations.push(`${row.id} evaluated ${after} time(s) after its commit`)
    }
  }
  return {
    entries: entries.length,
    committed: committed.length,
    afterCommit,
    violations,
    inFlightAgain,
    unlogged,
    duplicateCommits: [...committedHashes.values()].filter((n) => n > 1).length
  }
}
