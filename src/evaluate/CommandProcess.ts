/**
 * One evaluator process of the `command` contract, run to its end: its output captured up to a
 * cap, the wall-clock timeout applied (SIGTERM, grace period, then freeze-and-SIGKILL of the tree),
 * and nothing it started left running.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import { Deferred, Duration, Effect, Fiber, Stream } from "effect"
import { constants as osConstants } from "node:os"
import * as ProcessTree from "./ProcessTree.js"

export type OutputStream = "stdout" | "stderr"

/** How the evaluator process ended, as seen from the outside. */
export type Ending =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: string }
  | { readonly _tag: "OutputLimit"; readonly stream: OutputStream }
  | { readonly _tag: "TimedOut" }

/** Output kept from one stream: at most the cap plus one chunk, since draining stops there. */
interface Captured {
  readonly chunks: Array<Uint8Array>
  bytes: number
}

const decode = (captured: Captured) => {
  const decoder = new TextDecoder()
  return captured.chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode()
}

/** The platform reports a signal exit as a failed `exitCode`, naming the signal only in its text. */
const signalOf = (error: PlatformError) => /signal: (\w+)/.exec(error.message)?.[1] ?? "an unknown signal"

/**
 * SIGKILL to the process group the evaluator leads (or to the evaluator alone when the group is
 * gone and it still runs), without building the platform's error objects when nothing is left.
 */
const killGroup = (proc: CommandExecutor.Process) =>
  Effect.flatMap(ProcessTree.signal(-proc.pid, "SIGKILL"), (sent) =>
    sent
      ? Effect.void
      : Effect.flatMap(Effect.orElseSucceed(proc.isRunning, () => false), (running) =>
        running ? Effect.asVoid(ProcessTree.signal(proc.pid, "SIGKILL")) : Effect.void))

/** bubblewrap and the namespace wrapper report a child killed by signal N as exit code 128 + N: name the signal again. */
const signalFromExitCode = (ending: Extract<Ending, { _tag: "Exited" }>): Ending => {
  if (ending.code <= 128 || ending.code > 128 + 64) return ending
  const name = Object.entries(osConstants.signals).find(([, n]) => n === ending.code - 128)?.[0]
  return name === undefined ? ending : { _tag: "Signaled", signal: name }
}

export interface RunOptions {
  /** An environment entry (`NAME=value`) unique to this candidate: finds orphans outside the tree. */
  readonly marker: string
  /** The evaluator runs behind the pid namespace wrapper (`PidNamespace.namespacePrefix`). */
  readonly namespace: boolean
  /** The evaluator runs in bubblewrap with its own pid namespace. */
  readonly bwrap: boolean
  readonly timeout: Duration.Duration
  readonly killGrace: Duration.Duration
  readonly outputCapBytes: number
  readonly tree: ProcessTree.ProcessTree
}

/**
 * Runs the evaluator to its end and kills its whole process group and tree; never leaves it
 * running. In a pid namespace (`contained`) the kernel kills what is left when the evaluator
 * ends; otherwise `marker` (an environment entry unique to this candidate) finds orphans that
 * escaped both the group and the tree.
 */
export const runToEnd = (command: Command.Command, options: RunOptions) =>
  Effect.gen(function*() {
    const { marker, namespace, tree } = options
    const proc = yield* Command.start(command)
    // Registered after the platform's own finalizer, so it runs first: on interruption the
    // group gets SIGKILL before the platform sends SIGTERM and waits for the exit.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Effect.orElseSucceed(proc.isRunning, () => false), (running) => running ? killGroup(proc) : Effect.void)
    )
    const stdout: Captured = { chunks: [], bytes: 0 }
    const stderr: Captured = { chunks: [], bytes: 0 }
    // The first of: the exit, an output overflow (the timeout is applied on the wait).
    const done = yield* Deferred.make<Ending>()
    let overflowed: OutputStream | undefined
    const drain = (stream: Stream.Stream<Uint8Array, PlatformError>, into: Captured, name: OutputStream) =>
      Stream.runFoldWhile(stream, into, (captured) => captured.bytes <= options.outputCapBytes, (captured, chunk) => {
        captured.chunks.push(chunk)
        captured.bytes += chunk.length
        return captured
      }).pipe(
        Effect.flatMap((captured) => {
          if (captured.bytes <= options.outputCapBytes) return Effect.void
          overflowed ??= name
          return Deferred.succeed(done, { _tag: "OutputLimit", stream: name })
        }),
        Effect.ignore
      )
    const drains = [
      yield* Effect.forkScoped(drain(proc.stdout, stdout, "stdout")),
      yield* Effect.forkScoped(drain(proc.stderr, stderr, "stderr"))
    ]
    yield* Effect.forkScoped(Effect.flatMap(
      Effect.either(proc.exitCode),
      (exit) =>
        Deferred.succeed(
          done,
          exit._tag === "Right"
            ? { _tag: "Exited", code: exit.right }
            : { _tag: "Signaled", signal: signalOf(exit.left) }
        )
    ))
    const ending = yield* Deferred.await(done).pipe(Effect.timeoutTo({
      duration: options.timeout,
      onSuccess: (ending) => ending,
      onTimeout: (): Ending => ({ _tag: "TimedOut" })
    }))

    if (ending._tag === "TimedOut") {
      // SIGTERM to the group and to every descendant (also those that left the group), then
      // the grace period for the main process to exit, then freeze-and-SIGKILL the tree.
      // In a namespace the root is the wrapper: it must live on through the grace period (its
      // death kills the namespace), and its pid 1 shell ignores SIGTERM anyway.
      yield* (namespace ? tree.terminateBelow(proc.pid) : tree.terminate(proc.pid))
      yield* Effect.ignore(Effect.timeout(proc.exitCode, options.killGrace))
      yield* tree.kill(proc.pid)
    }
    const contained = options.bwrap || namespace
    if (!contained || ending._tag === "OutputLimit" || ending._tag === "TimedOut") {
      // Always, even after a clean exit: background children left in the group die too.
      // (A wrapper of a namespace exits only once the namespace is empty: nothing is left.)
      yield* killGroup(proc)
    }
    if (!contained) {
      // Pipes still open after that mean a process outside the group holds them: find it by
      // the candidate's environment (the tree no longer leads to an orphan) and kill it.
      // Always, not only when a pipe stays open: a daemon that left the group (setsid) with its
      // stdio closed holds no pipe, and once its parent has exited the tree no longer leads to it.
      yield* tree.killByEnvironment(marker)
    }
    yield* Effect.ignore(Effect.timeout(Fiber.awaitAll(drains), Duration.max(options.killGrace, Duration.seconds(1))))

    // Output still buffered in the pipe at the exit may overflow the cap too.
    const final: Ending = (ending._tag === "Exited" || ending._tag === "Signaled") && overflowed !== undefined
      ? { _tag: "OutputLimit", stream: overflowed }
      : contained && ending._tag === "Exited"
      ? signalFromExitCode(ending)
      : ending
    return { ending: final, stdout: decode(stdout), stderr: decode(stderr) }
  })
