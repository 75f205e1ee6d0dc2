/**
 * A child process whose pipes are plain callbacks and writes: what the warm Python pool needs of
 * its workers, one job line out and two lines back per candidate. @effect/platform's Command
 * gives pipes as Streams and Sinks, whose machinery cost ~0.3 ms of evolve's CPU per candidate
 * on that path (perf of the warm workload), more than the pool's own code. The process is
 * spawned as Command spawns it (its own process group, exactly the environment given) and ended
 * with the scope it was spawned in (SIGTERM to its group).
 */
import { Data, Deferred, Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import { access } from "node:fs/promises"
import { signal } from "./ProcessTree.js"

export class SpawnError extends Data.TaggedError("SpawnError")<{ readonly message: string }> {}

export interface PipedProcess {
  readonly pid: number
  /** Writes to its stdin (dropped once stdin is closed or broken: its end tells why). */
  readonly write: (text: string) => void
  readonly closeInput: () => void
  /** How it ended, once it has: "exit code N", or the signal's name. */
  readonly exit: Effect.Effect<string>
}

export interface PipeListeners {
  /** Text from stdout, decoded as UTF-8 (a character split across reads arrives whole). */
  readonly stdout: (text: string) => void
  /** stdout ended (or failed): nothing more comes from it. */
  readonly stdoutEnd: () => void
  readonly stderr: (text: string) => void
}

export interface SpawnOptions {
  readonly cwd: string
  readonly env: Record<string, string>
}

/** Spawns `argv` with pipes to `listeners`; ended (SIGTERM to its group, then awaited) when the scope closes. */
export const spawn = (
  argv: readonly [string, ...Array<string>],
  options: SpawnOptions,
  listeners: PipeListeners
): Effect.Effect<PipedProcess, SpawnError, Scope.Scope> =>
  Effect.gen(function*() {
    const [bin, ...args] = argv
    yield* Effect.tryPromise({
      try: () => access(options.cwd),
      catch: () => new SpawnError({ message: `its working directory ${options.cwd} cannot be entered` })
    })
    const ended = yield* Deferred.make<string>()
    let exited: { readonly code: number | null } | undefined
    const child = yield* Effect.acquireRelease(
      Effect.async<ChildProcess.ChildProcess, SpawnError>((resume) => {
        const child = ChildProcess.spawn(bin, args, { stdio: "pipe", cwd: options.cwd, env: options.env, detached: true })
        let spawned = false
        // Listened to for the life of the process: an "error" event nobody listens to ends evolve.
        child.on("error", (error) => {
          if (!spawned) resume(Effect.fail(new SpawnError({ message: error.message })))
        })
        child.once("spawn", () => {
          spawned = true
          resume(Effect.succeed(child))
        })
        child.once("exit", (code, signal) => {
          exited = { code }
          Deferred.unsafeDone(ended, Effect.succeed(code !== null ? `exit code ${code}` : (signal ?? "unknown exit")))
        })
      }),
      (child) =>
        Effect.suspend(() => {
          // SIGTERM to its group while it runs, as Command does; after any exit but 0 (a signal's
          // too, which Command skips), to what it left in the group.
          if (exited === undefined) return Effect.zipRight(signal(-child.pid!, "SIGTERM"), Deferred.await(ended))
          return exited.code === 0 ? Effect.void : Effect.asVoid(signal(-child.pid!, "SIGTERM"))
        })
    )
    const stdin = child.stdin!
    // A write to a worker that died fails with EPIPE: its exit says what happened.
    stdin.on("error", () => undefined)
    const stdout = child.stdout!
    stdout.setEncoding("utf8")
    stdout.on("data", listeners.stdout)
    let stdoutDone = false
    const endStdout = () => {
      if (stdoutDone) return
      stdoutDone = true
      listeners.stdoutEnd()
    }
    stdout.once("end", endStdout)
    stdout.once("error", endStdout)
    const stderr = child.stderr!
    stderr.setEncoding("utf8")
    stderr.on("data", listeners.stderr)
    stderr.on("error", () => undefined)
    return {
      pid: child.pid!,
      write: (text) => {
        if (stdin.writable) stdin.write(text)
      },
      closeInput: () => stdin.end(),
      exit: Deferred.await(ended)
    } satisfies PipedProcess
  })
