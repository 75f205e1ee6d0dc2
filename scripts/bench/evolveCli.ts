/**
 * Runs the real evolve CLI (package.json's `bin.evolve`) as a child process with the probe
 * preloaded, timing it from spawn to exit on the caller's `performance.now()` clock (the same
 * clock the fake server stamps requests with). With `treeCpu`, evolve runs under
 * treeLauncher.py, which reports the CPU time of its whole process tree (evolve and every
 * process it started) and times spawn and exit itself, so the launcher's own start-up is not
 * counted.
 */
import { spawn } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { epochOffsetMs } from "./clock.js"
import { evolveMain, probeModule, treeLauncher } from "./paths.js"
import type { Workspace } from "./fixtures.js"
import type { ProbeReport } from "./probe.js"

export interface CliRun {
  /** `performance.now()` just before spawn. */
  readonly spawnedAt: number
  /** Epoch ms just before spawn (the database stores epoch ms). */
  readonly spawnedAtEpoch: number
  /** ms from spawn to exit. */
  readonly wallMs: number
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
  readonly probe: ProbeReport | undefined
  /** With `treeCpu`: the launcher's report. */
  readonly tree: TreeReport | undefined
}

/** What treeLauncher.py reports (CPU in ms, user + system). */
export interface TreeReport {
  readonly startedNs: number
  readonly exitedNs: number
  readonly exitCode: number
  /** The launcher became a child subreaper: orphaned descendants were reaped (and counted) by it. */
  readonly subreaper: boolean
  /** Descendants still running after evolve exited and a grace period: killed and counted. */
  readonly leftovers: number
  /** Every process of the tree, evolve included: `reapedCpuMs` + `lostCpuMs`. */
  readonly treeCpuMs: number
  /** Processes whose chain of waits reached the launcher (getrusage of its children). */
  readonly reapedCpuMs: number
  /** Processes that vanished without a wait (killed with their pid namespace), from /proc samples: a lower bound. */
  readonly lostCpuMs: number
  /** evolve with the children it waited for itself (wait4). */
  readonly commandCpuMs: number
  /** The launcher's own CPU (start-up and /proc sampling). */
  readonly launcherCpuMs: number
  readonly samples: number
}

export interface CliOptions {
  readonly cwd: string
  /** Extra flags for node itself, e.g. `--cpu-prof`. */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Preload the probe (event-loop delay, CPU, memory). Default true. */
  readonly probe?: boolean
  /** The probe measures event-loop delay (default true); off where CPU is what is measured (see ProbeReport). */
  readonly eventLoopDelay?: boolean
  /** Run under treeLauncher.py to measure the CPU time of the whole process tree. */
  readonly treeCpu?: boolean
  /** Another evolve executable than package.json's (abWorkload.ts: a copy of an older build). */
  readonly evolveMain?: string
}

const readJson = <A>(file: string): A | undefined => {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as A
    rmSync(file)
    return value
  } catch {
    return undefined
  }
}

export const runEvolve = (args: ReadonlyArray<string>, options: CliOptions): Promise<CliRun> => {
  const stamp = `${process.pid}-${Math.round(performance.now() * 1000)}`
  const probeOut = join(options.cwd, `probe-${stamp}.json`)
  const treeOut = join(options.cwd, `tree-${stamp}.json`)
  const withTree = options.treeCpu ?? false
  const withProbe = options.probe ?? true
  const nodeArgs = [
    ...(options.nodeFlags ?? []),
    ...(withProbe ? ["--import", pathToFileURL(probeModule).href] : []),
    options.evolveMain ?? evolveMain,
    ...args
  ]
  const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: options.cwd, NO_COLOR: "1" }
  if (withProbe) env["BENCH_PROBE_OUT"] = probeOut
  if (withProbe && options.eventLoopDelay === false) env["BENCH_PROBE_DELAY_MS"] = "0"
  // Passed through for A/B runs of evolve's heap policy (src/process/HeapGrowth.ts).
  const heapGrowth = process.env["EVOLVE_HEAP_GROWTH_PERCENT"]
  if (heapGrowth !== undefined) env["EVOLVE_HEAP_GROWTH_PERCENT"] = heapGrowth
  return new Promise((resolve, reject) => {
    const spawnedAtEpoch = Date.now()
    const spawnedAt = performance.now()
    const [command, ...commandArgs] = withTree
      ? ["python3", treeLauncher, treeOut, "--", process.execPath, ...nodeArgs]
      : [process.execPath, ...nodeArgs]
    const child = spawn(command!, commandArgs, { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let exitedAt = 0
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("exit", () => (exitedAt = performance.now()))
    child.on("close", (exitCode) => {
      const probe = withProbe ? readJson<ProbeReport>(probeOut) : undefined
      const tree = withTree ? readJson<TreeReport>(treeOut) : undefined
      if (tree === undefined) {
        resolve({ spawnedAt, spawnedAtEpoch, wallMs: exitedAt - spawnedAt, exitCode, stdout, stderr, probe, tree })
        return
      }
      const startedEpoch = tree.startedNs / 1e6
      resolve({
        spawnedAt: startedEpoch - epochOffsetMs(),
        spawnedAtEpoch: startedEpoch,
        wallMs: (tree.exitedNs - tree.startedNs) / 1e6,
        exitCode,
        stdout,
        stderr,
        probe,
        tree
      })
    })
  })
}

/** Fails loudly when evolve did not finish normally, with its output. */
export const expectSuccess = (run: CliRun, what: string): CliRun => {
  if (run.exitCode !== 0) {
    throw new Error(`${what}: evolve exited with ${run.exitCode}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`)
  }
  return run
}

export interface RunFlags {
  readonly workspace: Workspace
  readonly baseUrl: string
  readonly iterations: number
  readonly proposals: number
  readonly evaluations: number
}

/** `run` arguments for the OpenAI-compatible fake server. */
export const runArgs = (flags: RunFlags): ReadonlyArray<string> => [
  "run",
  flags.workspace.program,
  flags.workspace.evaluator,
  "--db",
  flags.workspace.db,
  "--provider",
  "openai-chat",
  "--base-url",
  flags.baseUrl,
  "--model",
  "fake-model",
  "--iterations",
  String(flags.iterations),
  "--llm-concurrency",
  String(flags.proposals),
  "--eval-concurrency",
  String(flags.evaluations),
  "--seed",
  "1",
  ...(flags.workspace.config === undefined ? [] : ["--config", flags.workspace.config])
]
