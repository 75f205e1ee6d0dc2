/** Where the figures were measured: machine, Node, load and the git commit. */
import { execFileSync } from "node:child_process"
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
