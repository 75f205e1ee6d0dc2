/**
 * Process-tree control (Linux): signals, and the tree below an evaluation found through `/proc`.
 *
 * - `descendants` walks the process tree below a pid through `/proc/<pid>/task/<tid>/children`
 *   (or, on kernels without it, every `/proc/<pid>/stat`), so processes that left the process
 *   group (`setsid()`, `setpgid()`) are still found while their ancestors live.
 * - `kill` freezes the tree (SIGSTOP, so nothing forks while it is walked), walks it again until
 *   it stops growing, then SIGKILLs every process found and the root's process group.
 * - `findByEnvironment` finds processes by an environment entry (the candidate's
 *   `EVOLVE_RESULTS_DIR`): orphans whose parent already exited are reparented away from the
 *   tree, but keep the environment they inherited.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect } from "effect"

export type Signal = "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"

/** Sends `signal` to a pid (negative: a process group); false when it is gone or not ours. */
export const signal = (pid: number, sig: Signal): Effect.Effect<boolean> =>
  Effect.sync(() => {
    try {
      process.kill(pid, sig)
      return true
    } catch {
      return false
    }
  })

interface Stat {
  readonly state: string
  readonly ppid: number
}

/** `/proc/<pid>/stat`: the command name may contain spaces and parentheses; fields follow the last ")". */
const parseStat = (text: string): Stat | undefined => {
  const close = text.lastIndexOf(")")
  if (close < 0) return undefined
  const fields = text.slice(close + 2).split(" ")
  const ppid = Number(fields[1])
  return fields[0] === undefined || !Number.isFinite(ppid) ? undefined : { state: fields[0], ppid }
}

const numeric = /^\d+$/

export interface ProcessTree {
  /** Every process below `root` (not `root` itself), parents before children. */
  readonly descendants: (root: number) => Effect.Effect<ReadonlyArray<number>>
  /** SIGTERM to the root's group and every descendant (the polite first step of a timeout). */
  readonly terminate: (root: number) => Effect.Effect<void>
  /**
   * SIGTERM to every descendant of `root`, not to `root` nor its group: for a root that is a
   * namespace wrapper (`namespacePrefix`), which must outlive the grace period of the evaluator.
   */
  readonly terminateBelow: (root: number) => Effect.Effect<void>
  /** Freeze, walk, SIGKILL: the root, its group and every descendant. Returns the pids killed. */
  readonly kill: (root: number) => Effect.Effect<ReadonlyArray<number>>
  /** Processes (other than this one) whose environment contains the exact entry `NAME=value`. */
  readonly findByEnvironment: (entry: string) => Effect.Effect<ReadonlyArray<number>>
  /** SIGKILLs the processes carrying `entry` in their environment, with their trees. */
  readonly killByEnvironment: (entry: string) => Effect.Effect<ReadonlyArray<number>>
  /** The state letter of a process ("R", "S", "Z", …), undefined when it is gone. */
  readonly state: (pid: number) => Effect.Effect<string | undefined>
  /**
   * The pid, as this process sees it, of the process below `root` that its own pid namespace
   * knows as `innerPid` (the last entry of its `NSpid`); undefined when there is none.
   */
  readonly hostPid: (root: number, innerPid: number) => Effect.Effect<number | undefined>
}

/** The process-tree operations over the platform's FileSystem (reads `/proc`). */
export const makeProcessTree = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const self = process.pid
  const hasChildrenFiles = yield* fs.exists(`/proc/${self}/task/${self}/children`).pipe(
    Effect.orElseSucceed(() => false)
  )

  const readStat = (pid: number) =>
    fs.readFileString(`/proc/${pid}/stat`).pipe(
      Effect.map(parseStat),
      Effect.orElseSucceed(() => undefined)
    )

  const childrenOf = (pid: number): Effect.Effect<ReadonlyArray<number>> =>
    fs.readDirectory(`/proc/${pid}/task`).pipe(
      Effect.flatMap((tids) =>
        Effect.forEach(tids, (tid) =>
          fs.readFileString(`/proc/${pid}/task/${tid}/children`).pipe(Effect.orElseSucceed(() => "")))
      ),
      Effect.map((lists) => lists.flatMap((list) => list.split(" ").filter((s) => s !== "").map(Number))),
      Effect.orElseSucceed(() => [])
    )

  const allPids = fs.readDirectory("/proc").pipe(
    Effect.map((names) => names.filter((name) => numeric.test(name)).map(Number)),
    Effect.orElseSucceed((): Array<number> => [])
  )

  /** Fallback without `children` files: one pass over every process's parent. */
  const parentMap = Effect.gen(function*() {
    const pids = yield* allPids
    const stats = yield* Effect.forEach(pids, readStat, { concurrency: 16 })
    const byParent = new Map<number, Array<number>>()
    pids.forEach((pid, i) => {
      const stat = stats[i]
      if (stat === undefined) return
      const list = byParent.get(stat.ppid) ?? []
      list.push(pid)
      byParent.set(stat.ppid, list)
    })
    return byParent
  })

  const descendants = (root: number): Effect.Effect<ReadonlyArray<number>> =>
    Effect.gen(function*() {
      const found: Array<number> = []
      const seen = new Set<number>([root])
      const byParent = hasChildrenFiles ? undefined : yield* parentMap
      const queue = [root]
      while (queue.length > 0) {
        const pid = queue.shift()!
        const children = byParent ? byParent.get(pid) ?? [] : yield* childrenOf(pid)
        for (const child of children) {
          if (seen.has(child)) continue
          seen.add(child)
          found.push(child)
          queue.push(child)
        }
      }
      return found
    })

  const terminate = (root: number) =>
    Effect.gen(function*() {
      const below = yield* descendants(root)
      yield* signal(-root, "SIGTERM")
      yield* signal(root, "SIGTERM")
      yield* Effect.forEach(below, (pid) => signal(pid, "SIGTERM"), { discard: true })
    })

  const terminateBelow = (root: number) =>
    Effect.flatMap(descendants(root), (below) => Effect.forEach(below, (pid) => signal(pid, "SIGTERM"), { discard: true }))

  const kill = (root: number) =>
    Effect.gen(function*() {
      // A stopped process cannot fork: stop what we find, walk again, until nothing new shows up.
      const found = new Set<number>()
      yield* signal(-root, "SIGSTOP")
      yield* signal(root, "SIGSTOP")
      for (let round = 0; round < 20; round++) {
        const below = yield* descendants(root)
        const fresh = below.filter((pid) => !found.has(pid))
        if (fresh.length === 0) break
        for (const pid of fresh) found.add(pid)
        yield* Effect.forEach(fresh, (pid) => signal(pid, "SIGSTOP"), { discard: true })
      }
      yield* signal(-root, "SIGKILL")
      const rootKilled = yield* signal(root, "SIGKILL")
      const killed: Array<number> = rootKilled ? [root] : []
      for (const pid of found) {
        if (yield* signal(pid, "SIGKILL")) killed.push(pid)
      }
      return killed
    })

  const encoder = new TextEncoder()

  const contains = (haystack: Uint8Array, needle: Uint8Array) => {
    // Entries are NUL-separated; match a whole entry.
    outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
      if (i > 0 && haystack[i - 1] !== 0) continue
      for (let j = 0; j < needle.length; j++) {
        if (haystack[i + j] !== needle[j]) continue outer
      }
      const end = i + needle.length
      if (end === haystack.length || haystack[end] === 0) return true
    }
    return false
  }

  const findByEnvironment = (entry: string) =>
    Effect.gen(function*() {
      const needle = encoder.encode(entry)
      const pids = (yield* allPids).filter((pid) => pid !== self)
      const hits = yield* Effect.forEach(
        pids,
        (pid) =>
          fs.readFile(`/proc/${pid}/environ`).pipe(
            Effect.map((bytes) => contains(bytes, needle)),
            Effect.orElseSucceed(() => false)
          ),
        { concurrency: 16 }
      )
      return pids.filter((_, i) => hits[i])
    })

  const killByEnvironment = (entry: string) =>
    Effect.gen(function*() {
      const marked = yield* findByEnvironment(entry)
      const killed: Array<number> = []
      for (const pid of marked) killed.push(...(yield* kill(pid)))
      return killed
    })

  const state = (pid: number) => Effect.map(readStat(pid), (stat) => stat?.state)

  const innermostPid = (pid: number) =>
    fs.readFileString(`/proc/${pid}/status`).pipe(
      Effect.map((status) => Number(/^NSpid:.*?(\d+)\s*$/m.exec(status)?.[1])),
      Effect.orElseSucceed(() => Number.NaN)
    )

  const hostPid = (root: number, innerPid: number) =>
    Effect.gen(function*() {
      for (const pid of yield* descendants(root)) {
        if ((yield* innermostPid(pid)) === innerPid) return pid
      }
      return undefined
    })

  const tree: ProcessTree = {
    descendants,
    terminate,
    terminateBelow,
    kill,
    findByEnvironment,
    killByEnvironment,
    state,
    hostPid
  }
  return tree
})

/** Alive, or not ours to signal; false only when no such process exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code !== "ESRCH"
  }
}
