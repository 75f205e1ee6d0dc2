/**
 * Runs the real evolve CLI (package.json's `bin.evolve`) as a child process with the probe
 * preloaded, timing it from spawn to exit on the caller's `performance.now()` clock (the same
 * clock the fake server stamps requests with).
 */
import { spawn } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { evolveMain, probeModule } from "./paths.js"
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
}

export interface CliOptions {
  readonly cwd: string
  /** Extra flags for node itself, e.g. `--cpu-prof`. */
  readonly nodeFlags?: ReadonlyArray<string>
  /** Preload the probe (event-loop delay, CPU, memory). Default true. */
  readonly probe?: boolean
}

export const runEvolve = (args: ReadonlyArray<string>, options: CliOptions): Promise<CliRun> => {
  const probeOut = join(options.cwd, `probe-${process.pid}-${Math.round(performance.now() * 1000)}.json`)
  const withProbe = options.probe ?? true
  const nodeArgs = [
    ...(options.nodeFlags ?? []),
    ...(withProbe ? ["--import", pathToFileURL(probeModule).href] : []),
    evolveMain,
    ...args
  ]
  const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: options.cwd, NO_COLOR: "1" }
  if (withProbe) env["BENCH_PROBE_OUT"] = probeOut
  // Passed through for A/B runs of evolve's heap policy (src/server/HeapGrowth.ts).
  const heapGrowth = process.env["EVOLVE_HEAP_GROWTH_PERCENT"]
  if (heapGrowth !== undefined) env["EVOLVE_HEAP_GROWTH_PERCENT"] = heapGrowth
  return new Promise((resolve, reject) => {
    const spawnedAtEpoch = Date.now()
    const spawnedAt = performance.now()
    const child = spawn(process.execPath, nodeArgs, { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let exitedAt = 0
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("exit", () => (exitedAt = performance.now()))
    child.on("close", (exitCode) => {
      let probe: ProbeReport | undefined
      if (withProbe) {
        try {
          probe = JSON.parse(readFileSync(probeOut, "utf8")) as ProbeReport
          rmSync(probeOut)
        } catch {
          probe = undefined
        }
      }
      resolve({ spawnedAt, spawnedAtEpoch, wallMs: exitedAt - spawnedAt, exitCode, stdout, stderr, probe })
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
