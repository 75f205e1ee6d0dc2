/** The bubblewrap sandbox (`evaluator.sandbox: bwrap`): the argv prefix that applies it. */
export type SandboxMode = "none" | "bwrap"
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
  /** Keep the network (a coding agent calls its model's API); default: none. */
  readonly network?: boolean | undefined
}

/**
 * bubblewrap: no network (unless `network`), no SysV IPC, the whole filesystem read-only, a private /tmp and
 * /dev, writable `writable` dirs, and death with the parent.
 */
export const bwrapPrefix = (options: BwrapOptions): ReadonlyArray<string> => [
  options.bwrap,
  "--die-with-parent",
  ...(options.network === true ? [] : ["--unshare-net"]),
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
