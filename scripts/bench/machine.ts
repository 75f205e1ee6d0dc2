/** Where the figures were measured: machine, Node, load and the git commit. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { cpus, freemem, loadavg, release, totalmem } from "node:os"
import { repoRoot } from "./paths.js"

export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGb: number
  readonly freeMemoryGb: number
  readonly kernel: string
  readonly node: string
  /** 1-minute load average when the suite started: above `cores`, other work shared the CPUs. */
  readonly loadAverage: number
}

export interface GitInfo {
  readonly commit: string
  /** Uncommitted changes were present: the figures are for the working tree, not the commit. */
  readonly dirty: boolean
}

const gb = (bytes: number) => Number((bytes / 1024 ** 3).toFixed(1))

export const machineInfo = (): MachineInfo => ({
  cpuModel: cpus()[0]?.model.trim() ?? "unknown",
  cores: cpus().length,
  memoryGb: gb(totalmem()),
  freeMemoryGb: gb(freemem()),
  kernel: release(),
  node: process.version,
  loadAverage: Number(loadavg()[0]!.toFixed(2))
})

const git = (...args: Array<string>) => {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

export const gitInfo = (): GitInfo => ({
  commit: git("rev-parse", "HEAD") ?? "unknown",
  dirty: (git("status", "--porcelain") ?? "") !== ""
})

/** Length of a /proc/stat tick in ms (USER_HZ; 100 on every Linux architecture Node runs on). */
let tick: number | undefined
const tickMs = (): number => {
  if (tick === undefined) {
    let hz = Number.NaN
    try {
      hz = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim())
    } catch {
      // no getconf: Linux's USER_HZ is 100
    }
    tick = Number.isFinite(hz) && hz > 0 ? 1000 / hz : 10
  }
  return tick
}

/**
 * CPU time all processes of the machine spent so far (ms, all cores; /proc/stat's `cpu` line:
 * user, nice, system, irq, softirq and steal; idle and iowait are not busy). Undefined off Linux.
 */
export const machineBusyMs = (): number | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0) * tickMs()
  } catch {
    return undefined
  }
}
