/**
 * Shared machinery of the cluster's multi-process test and benchmark: a throwaway Postgres, a
 * workspace with a sleeping shell evaluator that logs each call, the real CLI as child processes
 * (each in its own process group, so a kill reaches only what it means to), SQL through psql,
 * and a scan for processes left behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as PostgresServers from "../../test/support/postgresServer.js"

const here = dirname(fileURLToPath(import.meta.url))
/** The repository root: this file runs from dist/scripts/cluster/. */
export const repoRoot = resolve(here, "../../..")
export const cliPath = join(repoRoot, "dist/bin/evolve.mjs")

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${line}`)

// ---- Postgres ------------------------------------------------------------------------------------

export interface Database {
  readonly server: PostgresServers.ThrowawayServer
  readonly url: string
  /** Rows of a query (tab-separated fields), through psql; throws when the server does not answer. */
  readonly query: (sql: string) => ReadonlyArray<ReadonlyArray<string>>
  readonly scalar: (sql: string) => number
}

export const startDatabase = async (prefix: string, database = "evolve"): Promise<Database> => {
  if (!PostgresServers.available()) throw new Error(`no PostgreSQL binaries in ${PostgresServers.binDir} (apt-get install postgresql)`)
  PostgresServers.sweepOrphans(prefix)
  const server = await PostgresServers.start({ prefix, password: "cluster-test-pw" })
  execFileSync(join(PostgresServers.binDir, "psql"), ["-h", server.host, "-p", String(server.port), "-U", "postgres", "-c", `CREATE DATABASE ${database}`], {
    env: { ...process.env, PGPASSWORD: server.password },
    stdio: "pipe"
  })
  const query = (sql: string) =>
    execFileSync(
      join(PostgresServers.binDir, "psql"),
      ["-h", server.host, "-p", String(server.port), "-U", "postgres", "-d", database, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
      { env: { ...process.env, PGPASSWORD: server.password, PGCONNECT_TIMEOUT: "5" }, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 }
    ).toString().split("\n").filter((l) => l !== "").map((l) => l.split("\t"))
  return { server, url: server.urlOf(database), query, scalar: (sql) => Number(query(sql)[0]?.[0] ?? Number.NaN) }
}

// ---- workspace -----------------------------------------------------------------------------------

export interface Workspace {
  readonly dir: string
  /** One line per evaluator call, written when it starts: "<epoch ns> <candidate file>". */
  readonly callLog: string
}

/**
 * The function-minimization program, evaluated by `evaluator.sh` (or `evaluator.py`, the same in
 * Python): it logs its call, sleeps `evalMs` and scores 1. The offline provider proposes (no network).
 */
export const makeWorkspace = (
  prefix: string,
  options: {
    readonly evalMs: number
    readonly evaluations: number
    readonly inFlight: number
    readonly proposals?: number
    /** `evaluator.py` too: the same evaluator in Python, which evolve runs warm (its fork server), as a real user's would. */
    readonly python?: boolean
  }
): Workspace => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const callLog = join(dir, "calls.log")
  copyFileSync(join(repoRoot, "examples/function_minimization/initial_program.mjs"), join(dir, "initial_program.mjs"))
  writeFileSync(join(dir, "evaluator.sh"), [
    "#!/bin/sh",
    `echo "$(date +%s%N) $1" >> '${callLog}'`,
    `sleep ${(options.evalMs / 1000).toFixed(3)}`,
    `echo '{"combined_score": 1}'`,
    ""
  ].join("\n"))
  chmodSync(join(dir, "evaluator.sh"), 0o755)
  if (options.python === true) {
    writeFileSync(join(dir, "evaluator.py"), [
      "#!/usr/bin/env python3",
      "import sys, time",
      `with open(${JSON.stringify(callLog)}, "a") as log:`,
      "    log.write(f\"{time.time_ns()} {sys.argv[1]}\\n\")",
      `time.sleep(${(options.evalMs / 1000).toFixed(3)})`,
      "print('{\"combined_score\": 1}')",
      ""
    ].join("\n"))
    chmodSync(join(dir, "evaluator.py"), 0o755)
  }
  writeFileSync(join(dir, "evolve.yaml"), [
    "language: javascript",
    "seed: 42",
    `max_evaluations: ${options.evaluations}`,
    "concurrency:",
    `  proposals: ${options.proposals ?? 4}`,
    `  evaluations: ${options.inFlight}`,
    "evaluator:",
    "  timeout_seconds: 60",
    "llm:",
    "  provider: offline",
    ""
  ].join("\n"))
  writeFileSync(callLog, "")
  mkdirSync(join(dir, "tmp"), { recursive: true })
  return { dir, callLog }
}

export const callLines = (workspace: Workspace) => readFileSync(workspace.callLog, "utf8").split("\n").filter((l) => l !== "")

// ---- processes -------------------------------------------------------------------------------------

export interface Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  output: string
  exitCode: number | null
  signal: NodeJS.Signals | null
  readonly exited: Promise<void>
  /** Waits for a line matching `pattern` (throws after `timeoutMs` or when the process exits first). */
  readonly until: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
}

export const processEnv = (workspace: Workspace, extra: Record<string, string> = {}) => ({
  ...process.env,
  EVOLVE_DB: "",
  TMPDIR: join(workspace.dir, "tmp"),
  ...extra
})

export const startCli = (name: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv): Proc => {
  const child = spawn(process.execPath, [...(process.env.CLUSTER_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""), cliPath, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true })
  const proc: Proc = {
    name,
    child,
    pid: child.pid!,
    output: "",
    exitCode: null,
    signal: null,
    exited: new Promise<void>((done) =>
      child.on("exit", (code, signal) => {
        proc.exitCode = code
        proc.signal = signal
        done()
      })
    ),
    until: async (pattern, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const match = pattern.exec(proc.output)
        if (match !== null) return match
        if (proc.exitCode !== null || proc.signal !== null) throw new Error(`${name} exited (${proc.exitCode ?? proc.signal}) before ${pattern}: ${proc.output.slice(-2000)}`)
        if (Date.now() > deadline) throw new Error(`${name}: no ${pattern} within ${timeoutMs} ms: ${proc.output.slice(-2000)}`)
        await sleep(100)
      }
    }
  }
  child.stdout!.on("data", (d) => (proc.output += d))
  child.stderr!.on("data", (d) => (proc.output += d))
  return proc
}

/** SIGINT, then SIGKILL of its process group after `graceMs`; resolves when it exited. */
export const stopCli = async (proc: Proc, graceMs = 20_000) => {
  if (proc.exitCode !== null || proc.signal !== null) return
  proc.child.kill("SIGINT")
  const killer = setTimeout(() => {
    try {
      process.kill(-proc.pid, "SIGKILL")
    } catch {
      // gone
    }
  }, graceMs)
  await proc.exited
  clearTimeout(killer)
}

/** kill -9 of the process itself (not its group: its evaluator children are orphaned, as on a crash). */
export const kill9 = async (proc: Proc) => {
  process.kill(proc.pid, "SIGKILL")
  await proc.exited
}

// ---- /proc -------------------------------------------------------------------------------------------

interface ProcInfo {
  readonly pid: number
  readonly ppid: number
  /** The kernel's one-letter state: R running, S sleeping, T stopped (SIGSTOP), Z zombie, … */
  readonly state: string
  readonly cmdline: string
  readonly cpuTicks: number
}

const readProc = (pid: number): ProcInfo | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
    return { pid, ppid: Number(fields[1]), state: fields[0]!, cmdline, cpuTicks: Number(fields[11]) + Number(fields[12]) }
  } catch {
    return undefined
  }
}

export const allProcesses = (): ReadonlyArray<ProcInfo> =>
  readdirSync("/proc").filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    const info = readProc(Number(n))
    return info === undefined ? [] : [info]
  })

/** The process `pid` as /proc shows it now; undefined once it is gone. */
export const processInfo = (pid: number) => readProc(pid)

/** The descendants of `pid` (alive now). */
export const descendants = (pid: number): ReadonlyArray<ProcInfo> => {
  const all = allProcesses()
  const out: Array<ProcInfo> = []
  const frontier = [pid]
  while (frontier.length > 0) {
    const parent = frontier.pop()!
    for (const p of all) {
      if (p.ppid === parent) {
        out.push(p)
        frontier.push(p.pid)
      }
    }
  }
  return out
}

/** Processes whose command line names `marker` (the workspace, the CLI of this test), this script excepted. */
export const leftovers = (markers: ReadonlyArray<string>) =>
  allProcesses().filter((p) => p.pid !== process.pid && markers.some((m) => p.cmdline.includes(m)))

/** User + system CPU of a live process, in ms (clock ticks at 100 Hz, as Linux reports). */
export const cpuMsOf = (pid: number): number | undefined => {
  const info = readProc(pid)
  return info === undefined ? undefined : info.cpuTicks * 10
}

export const exists = existsSync

// ---- checks ----------------------------------------------------------------------------------------

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export const check = (checks: Array<Check>, name: string, ok: boolean, detail: string) => {
  checks.push({ name, ok, detail })
  log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`)
}
