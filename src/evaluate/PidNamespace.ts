/**
 * A private pid namespace for each evaluation (or pool worker) without bubblewrap:
 * `namespacePrefix` builds the argv prefix and `probePidNamespace` finds which variant works here.
 */
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import { Duration, Effect, Stream } from "effect"
import { findExecutable } from "./FindExecutable.js"

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
  // The shell would export its PWD to the evaluator, and report a signal death ("Terminated",
  // "Killed") on its stderr, which is the evaluator's: the shell keeps /dev/null as its stderr and
  // the evaluator gets the original (a subshell exec-ing it, so the shell's own wait is not under
  // the redirection). stdin is empty unless asked for (a pool worker reads its jobs there): the
  // wrapper's own stdin may then be a pipe nobody writes to, which spares evolve a fiber per
  // candidate to close it.
  `unset PWD OLDPWD; exec 3>&2 2>/dev/null; (exec "$@"${stdin === "empty" ? " </dev/null" : ""} 2>&3 3>&-); exit $?`,
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

/** This process's pid namespace ("4026531836"), "" when /proc does not say. */
export const pidNamespaceId = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const link = yield* fs.readLink("/proc/self/ns/pid").pipe(Effect.orElseSucceed(() => ""))
  return /\[(\d+)\]/.exec(link)?.[1] ?? ""
})
