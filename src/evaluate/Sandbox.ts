/**
 * Process-tree control and resource limits shared by every evaluation contract (Linux).
 *
 * - `descendants` walks the process tree below a pid through `/proc/<pid>/task/<tid>/children`
 *   (or, on kernels without it, every `/proc/<pid>/stat`), so processes that left the process
 *   group (`setsid()`, `setpgid()`) are still found while their ancestors live.
 * - `kill` freezes the tree (SIGSTOP, so nothing forks while it is walked), walks it again until
 *   it stops growing, then SIGKILLs every process found and the root's process group.
 * - `findByEnvironment` finds processes by an environment entry (the candidate's
 *   `EVOLVE_RESULTS_DIR`): orphans whose parent already exited are reparented away from the
 *   tree, but keep the environment they inherited.
 * - `limitsPrefix` / `bwrapPrefix` / `namespacePrefix` build the argv prefixes that apply rlimits,
 *   bubblewrap, and a private pid namespace (`probePidNamespace` finds which one works here).
 * - `sweepTempDirs` removes per-candidate temp dirs left behind by an evolve process that died.
 */
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Duration, Effect, Option, Stream } from "effect"

/** The only parent environment variables an evaluator sees (plus EVOLVE_PROGRAM and EVOLVE_RESULTS_DIR). */
export const passedEnv: ReadonlyArray<string> = [
  "PATH",
  "HOME",
  "LANG",
  "LC_ALL",
  "TMPDIR",
  "PYTHONPATH",
  "NODE_PATH",
  "SYSTEMROOT"
]

/** The allow-listed part of this process's environment. */
export const scrubbedEnv = Effect.sync(() =>
  Object.fromEntries(passedEnv.flatMap((name) => {
    const value = process.env[name]
    return value === undefined ? [] : [[name, value]]
  })) as Record<string, string>
)

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

export interface Limits {
  /** Address-space limit (RLIMIT_AS) in MiB. */
  readonly memoryMb?: number | undefined
  /** CPU-time limit (RLIMIT_CPU) in seconds: SIGXCPU at the limit, SIGKILL one second later. */
  readonly cpuSeconds?: number | undefined
}

/**
 * An argv prefix applying `limits` through `sh -c 'ulimit …; exec "$@"'`, so the evaluator
 * itself (not a shell) is the process that runs under them; core dumps are off. Empty when
 * there is nothing to limit.
 */
export const limitsPrefix = (limits: Limits): ReadonlyArray<string> => {
  if (limits.memoryMb === undefined && limits.cpuSeconds === undefined) return []
  const steps = ["ulimit -c 0"]
  if (limits.memoryMb !== undefined) steps.push(`ulimit -v ${Math.max(1, Math.round(limits.memoryMb * 1024))}`)
  if (limits.cpuSeconds !== undefined) {
    const soft = Math.max(1, Math.ceil(limits.cpuSeconds))
    // soft first: a hard limit below the current soft one is refused
    steps.push(`ulimit -S -t ${soft}`, `ulimit -H -t ${soft + 1}`)
  }
  return ["sh", "-c", `${steps.join(" && ")} && exec "$@"`, "evolve-limits"]
}

/** What a memory or CPU limit looks like from outside, for failure messages. */
export const limitHint = (limits: Limits, text: string, signalName: string | null): string | null => {
  if (signalName === "SIGXCPU" && limits.cpuSeconds !== undefined) {
    return `CPU time limit of ${limits.cpuSeconds} s exceeded`
  }
  if (
    limits.memoryMb !== undefined &&
    (/\bMemoryError\b|Cannot allocate memory|out of memory|bad_alloc|allocation failed|ENOMEM|heap limit/i.test(
      text
    ) ||
      signalName === "SIGSEGV" || signalName === "SIGABRT" || signalName === "SIGBUS")
  ) {
    return `memory limit of ${limits.memoryMb} MB probably exceeded`
  }
  return null
}

export type SandboxMode = "none" | "bwrap"

/** Where `bwrap` is, searching PATH through the FileSystem; undefined when not installed. */
export const findExecutable = (name: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dirs = (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d !== "")
    for (const dir of dirs) {
      const candidate = path.join(dir, name)
      if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
    }
    return undefined
  })

export const bwrapMissing =
  "evaluator.sandbox is \"bwrap\" but bubblewrap is not installed (no `bwrap` on PATH); install it " +
  "(e.g. `apt-get install bubblewrap`) or set evaluator.sandbox: none"

export interface BwrapOptions {
  readonly bwrap: string
  /** Directories the evaluator may write (the candidate's temp dir). */
  readonly writable: ReadonlyArray<string>
  /** Directories under /tmp that must stay visible read-only (the evaluator's dir, the worker file). */
  readonly readable: ReadonlyArray<string>
  readonly cwd: string
  /** A private pid namespace: when the sandbox's first process dies, every process in it dies. */
  readonly unsharePid: boolean
}

/**
 * bubblewrap: no network, no SysV IPC, the whole filesystem read-only, a private /tmp and
 * /dev, writable `writable` dirs, and death with the parent.
 */
export const bwrapPrefix = (options: BwrapOptions): ReadonlyArray<string> => [
  options.bwrap,
  "--die-with-parent",
  "--unshare-net",
  "--unshare-ipc",
  ...(options.unsharePid ? ["--unshare-pid"] : []),
  "--ro-bind",
  "/",
  "/",
  "--dev",
  "/dev",
  "--proc",
  "/proc",
  "--tmpfs",
  "/tmp",
  ...options.readable.flatMap((dir) => ["--ro-bind", dir, dir]),
  ...options.writable.flatMap((dir) => ["--bind", dir, dir]),
  "--chdir",
  options.cwd,
  "--"
]

/** How evaluations are contained beyond the options (tests turn the pid namespace off to cover the fallback). */
export interface Isolation {
  /** Run evaluations (or pool workers) in a private pid namespace when this machine allows it (default true). */
  readonly pidNamespace: boolean
}

/**
 * A private pid namespace for each evaluation, without bubblewrap: util-linux's `setpriv` and
 * `unshare` (root, or an unprivileged user namespace mapping the current user).
 */
export interface PidNamespace {
  readonly setpriv: string
  readonly unshare: string
  /** Flags before `--pid`: `--user --map-current-user` when not root, `--mount --mount-proc` for a private /proc. */
  readonly flags: ReadonlyArray<string>
  /** /proc inside shows only the namespace's processes (evolve's own /proc entries are out of sight). */
  readonly privateProc: boolean
}

/**
 * `setpriv --pdeathsig KILL unshare … --pid --fork --kill-child -- sh -c '"$@"; exit $?' evolve-init`:
 * the shell is pid 1 of a new pid namespace and runs the evaluator as its child (pid 1 ignores
 * signals it has no handler for, so the evaluator must not be pid 1). When the shell exits, the
 * kernel kills every process left in the namespace, daemons included; when evolve dies (even by
 * SIGKILL), pdeathsig kills `unshare`, and `--kill-child` the namespace. The candidate cannot see
 * or signal evolve. A signal death comes out as exit code 128 + N.
 */
export const namespacePrefix = (ns: PidNamespace, stdin: "empty" | "inherit" = "empty"): ReadonlyArray<string> => [
  ns.setpriv,
  "--pdeathsig",
  "KILL",
  ns.unshare,
  ...ns.flags,
  "--pid",
  "--fork",
  "--kill-child",
  "--",
  "sh",
  "-c",
  // The shell would export its PWD to the evaluator. stdin is empty unless asked for (a pool
  // worker reads its jobs there): the wrapper's own stdin may then be a pipe nobody writes to,
  // which spares evolve a fiber per candidate to close it.
  stdin === "empty" ? "unset PWD OLDPWD; \"$@\" </dev/null; exit $?" : "unset PWD OLDPWD; \"$@\"; exit $?",
  "evolve-init"
]

export type NamespaceProbe =
  | { readonly _tag: "Available"; readonly namespace: PidNamespace }
  | { readonly _tag: "Unavailable"; readonly reason: string }

/**
 * Whether `namespacePrefix` works here, trying a private /proc first: runs a shell in it that
 * reports its own pid (2 in a new namespace) and the pid /proc/self names (2 when /proc is private).
 */
export const probePidNamespace = Effect.gen(function*() {
  const setpriv = yield* findExecutable("setpriv")
  const unshare = yield* findExecutable("unshare")
  if (setpriv === undefined || unshare === undefined) {
    return { _tag: "Unavailable", reason: "setpriv or unshare (util-linux) is not on PATH" } as NamespaceProbe
  }
  const user = process.getuid?.() === 0 ? [] : ["--user", "--map-current-user"]
  let reason = ""
  for (const flags of [[...user, "--mount", "--mount-proc"], user]) {
    const namespace: PidNamespace = { setpriv, unshare, flags, privateProc: flags.includes("--mount-proc") }
    const [bin, ...args] = [...namespacePrefix(namespace), "sh", "-c", "read -r pid rest < /proc/self/stat; echo \"$$ $pid\""]
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const proc = yield* Command.start(Command.make(bin!, ...args))
      const text = (stream: typeof proc.stdout) => Stream.mkString(Stream.decodeText(stream))
      const [stdout, stderr, code] = yield* Effect.all([text(proc.stdout), text(proc.stderr), proc.exitCode], {
        concurrency: 3
      })
      return { stdout: stdout.trim(), stderr: stderr.trim(), code }
    })).pipe(
      Effect.timeout(Duration.seconds(10)),
      Effect.catchAll((error) => Effect.succeed({ stdout: "", stderr: String(error), code: -1 }))
    )
    const [inner, self] = result.stdout.split(" ")
    if (result.code === 0 && inner === "2" && (!namespace.privateProc || self === "2")) {
      return { _tag: "Available", namespace } as NamespaceProbe
    }
    reason = `\`${[unshare, ...flags, "--pid", "--fork"].join(" ")}\` failed here (exit ${result.code}${
      result.stderr === "" ? "" : `: ${result.stderr.slice(0, 300)}`
    })`
  }
  return { _tag: "Unavailable", reason } as NamespaceProbe
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

/** This process's pid namespace ("4026531836"), "" when /proc does not say. */
export const pidNamespaceId = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const link = yield* fs.readLink("/proc/self/ns/pid").pipe(Effect.orElseSucceed(() => ""))
  return /\[(\d+)\]/.exec(link)?.[1] ?? ""
})

/**
 * The temp dir prefix of a candidate: `evolve-<pid>-<pid namespace>-<program id>-`, so that a
 * later evolve can tell dirs whose owner died (killed -9 mid-evaluation) from those of a live one.
 */
export const tempDirPrefix = (namespaceId: string, programId: string) =>
  `evolve-${process.pid}-${namespaceId === "" ? "x" : namespaceId}-${programId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)}-`

/**
 * Removes the candidate temp dirs in `root` left by evolve processes of this pid namespace that
 * no longer exist; never a dir of a live process, of another namespace (its pids mean nothing
 * here), or one this user does not own. Returns the names removed.
 */
export const sweepTempDirs = (root: string, namespaceId: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (namespaceId === "") return []
    const uid = process.getuid?.()
    const names = yield* fs.readDirectory(root).pipe(Effect.orElseSucceed((): Array<string> => []))
    const removed: Array<string> = []
    for (const name of names) {
      const match = /^evolve-(\d+)-(\d+)-/.exec(name)
      if (match === null || match[2] !== namespaceId) continue
      const pid = Number(match[1])
      if (pid === process.pid || isAlive(pid)) continue
      const dir = path.join(root, name)
      const info = yield* fs.stat(dir).pipe(Effect.option)
      if (Option.isNone(info) || info.value.type !== "Directory") continue
      const owner = Option.getOrUndefined(info.value.uid)
      if (uid !== undefined && owner !== undefined && owner !== uid) continue
      const done = yield* fs.remove(dir, { recursive: true }).pipe(Effect.isSuccess)
      if (done) removed.push(name)
    }
    return removed
  })
