import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import { Clock, Deferred, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { constants as fsConstants } from "node:fs"
import { open as openFile } from "node:fs/promises"
import { constants as osConstants, tmpdir } from "node:os"
import { ConfigError } from "../domain/Errors.js"
import type { EvaluationOutcome, FailureKind } from "../domain/Program.js"
import { type CommandEvaluatorOptions, type EvaluationRequest, Evaluator } from "./Evaluator.js"
import * as Feedback from "./Feedback.js"
import * as MetricsReport from "./MetricsReport.js"
import * as Sandbox from "./Sandbox.js"

/** The only parent environment variables an evaluator sees (plus EVOLVE_PROGRAM and EVOLVE_RESULTS_DIR). */
export const passedEnv: ReadonlyArray<string> = Sandbox.passedEnv

/** How much of stderr goes into failure messages and feedback. */
const stderrTailChars = 2048

type OutputStream = "stdout" | "stderr"

/** How the evaluator process ended, as seen from the outside. */
type Ending =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: string }
  | { readonly _tag: "OutputLimit"; readonly stream: OutputStream }
  | { readonly _tag: "TimedOut" }

/** Output kept from one stream: at most the cap plus one chunk, since draining stops there. */
interface Captured {
  readonly chunks: Array<Uint8Array>
  bytes: number
}

/** An outcome before its duration is known. */
type Verdict =
  | Omit<Extract<EvaluationOutcome, { _tag: "Scored" }>, "durationMs">
  | Omit<Extract<EvaluationOutcome, { _tag: "Failed" }>, "durationMs">

const decode = (captured: Captured) => {
  const decoder = new TextDecoder()
  return captured.chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode()
}

const lastLine = (text: string) => {
  const trimmed = text.trimEnd()
  return trimmed.slice(trimmed.lastIndexOf("\n") + 1).trim()
}

const tail = (text: string) => {
  const trimmed = text.trim()
  return trimmed.length > stderrTailChars ? `…${trimmed.slice(-stderrTailChars)}` : trimmed
}

const withTail = (message: string, stderrTail: string) => stderrTail === "" ? message : `${message}:\n${stderrTail}`

const withHint = (message: string, hint: string | null) => hint === null ? message : `${message} (${hint})`

const failed = (kind: FailureKind, message: string, feedback: string | null = null): Verdict => ({
  _tag: "Failed",
  failure: { kind, message },
  feedback
})

/** The platform reports a signal exit as a failed `exitCode`, naming the signal only in its text. */
const signalOf = (error: PlatformError) => /signal: (\w+)/.exec(error.message)?.[1] ?? "an unknown signal"

const setupFailure = (command: string) => (error: PlatformError): Verdict =>
  error._tag === "SystemError" && error.module === "Command" && error.method === "spawn"
    ? failed("evaluator_error", `could not start evaluator "${command}": ${error.description ?? error.message}`)
    : failed("evaluator_error", `evaluation failed: ${error.message}`)

/** metrics.json as the candidate left it: it controls that file, so it is read defensively. */
type ResultFile =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "NotRegular" }
  | { readonly _tag: "TooBig" }
  | { readonly _tag: "Text"; readonly text: string }

/**
 * Reads a file the candidate wrote: only a regular file, opened without following a symlink and
 * without blocking (a FIFO nobody writes to would block `open` forever, and a symlink to
 * /dev/zero never ends: both hung the evaluation slot for good), and never more than `cap` bytes.
 */
const readResultFile = (file: string, cap: number): Effect.Effect<ResultFile> =>
  Effect.promise(async (): Promise<ResultFile> => {
    let handle
    try {
      handle = await openFile(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
    } catch (error) {
      return (error as { code?: string }).code === "ENOENT" ? { _tag: "Missing" } : { _tag: "NotRegular" }
    }
    try {
      const info = await handle.stat()
      if (!info.isFile()) return { _tag: "NotRegular" }
      if (info.size > cap) return { _tag: "TooBig" }
      const buffer = Buffer.alloc(Math.min(cap, info.size) + 1)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
      if (bytesRead > cap) return { _tag: "TooBig" }
      return { _tag: "Text", text: buffer.subarray(0, bytesRead).toString("utf8") }
    } catch {
      return { _tag: "NotRegular" }
    } finally {
      await handle.close().catch(() => undefined)
    }
  })

/**
 * SIGKILL to the process group the evaluator leads (or to the evaluator alone when the group is
 * gone and it still runs), without building the platform's error objects when nothing is left.
 */
const killGroup = (proc: CommandExecutor.Process) =>
  Effect.flatMap(Sandbox.signal(-proc.pid, "SIGKILL"), (sent) =>
    sent
      ? Effect.void
      : Effect.flatMap(Effect.orElseSucceed(proc.isRunning, () => false), (running) =>
        running ? Effect.asVoid(Sandbox.signal(proc.pid, "SIGKILL")) : Effect.void))

/** bubblewrap and the namespace wrapper report a child killed by signal N as exit code 128 + N: name the signal again. */
const signalFromExitCode = (ending: Extract<Ending, { _tag: "Exited" }>): Ending => {
  if (ending.code <= 128 || ending.code > 128 + 64) return ending
  const name = Object.entries(osConstants.signals).find(([, n]) => n === ending.code - 128)?.[0]
  return name === undefined ? ending : { _tag: "Signaled", signal: name }
}

/**
 * The `command` contract: runs `options.command <candidate path>` in its own process group and
 * temp dir, with a scrubbed environment, a wall-clock timeout (SIGTERM, then SIGKILL to the
 * group), and an output cap; metrics come from `$EVOLVE_RESULTS_DIR/metrics.json` or the last
 * stdout line (see `MetricsReport.parse`).
 *
 * Without bubblewrap, each evaluation runs in a private pid namespace (`Sandbox.namespacePrefix`)
 * when the probe at start-up finds that it works: nothing the candidate starts outlives its
 * evaluation or evolve, and it cannot see or signal evolve. Otherwise (with a one-time warning)
 * escaped processes are hunted through the process tree and a /proc environment sweep.
 */
export const make = (options: CommandEvaluatorOptions, isolation: Sandbox.Isolation = { pidNamespace: true }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const executor = yield* CommandExecutor.CommandExecutor
    const [bin, ...args] = options.command
    if (bin === undefined) return yield* Effect.dieMessage("command evaluator: `command` is empty")
    const parentEnv = yield* Sandbox.scrubbedEnv
    const tree = yield* Sandbox.makeProcessTree
    const limits: Sandbox.Limits = { memoryMb: options.memoryMb, cpuSeconds: options.cpuSeconds }
    const limitArgs = Sandbox.limitsPrefix(limits)
    const bwrap = options.sandbox === "bwrap" ? yield* Sandbox.findExecutable("bwrap") : undefined
    if (options.sandbox === "bwrap" && bwrap === undefined) {
      return yield* new ConfigError({ path: "evaluator.sandbox", message: Sandbox.bwrapMissing })
    }
    const cwd = path.resolve(options.cwd)
    const tempRoot = path.resolve(options.tempRoot ?? tmpdir())
    const namespaceId = yield* Sandbox.pidNamespaceId
    // Temp dirs of candidates in flight when an earlier evolve was killed -9.
    const swept = yield* Sandbox.sweepTempDirs(tempRoot, namespaceId)
    if (swept.length > 0) {
      yield* Effect.logInfo(`removed ${swept.length} candidate temp dir(s) left in ${tempRoot} by evolve processes that died`)
    }
    // A missing evaluator is reported by the spawn itself ("could not start"), not by a shell.
    const binFound = bin.includes("/")
      ? yield* fs.exists(path.resolve(cwd, bin)).pipe(Effect.orElseSucceed(() => false))
      : (yield* Sandbox.findExecutable(bin)) !== undefined
    // The probe runs in the background; evaluations wait on its result (a Deferred, not a join of
    // the probe's fiber, which would also merge that fiber's FiberRefs into every evaluation).
    const probe = yield* Deferred.make<Sandbox.PidNamespace | undefined>()
    yield* Effect.forkScoped(Effect.flatMap(
      bwrap !== undefined || !isolation.pidNamespace || !binFound
        ? Effect.succeed(undefined)
        : Sandbox.probePidNamespace.pipe(
          Effect.tap((probe) =>
            probe._tag === "Available" ? Effect.void : Effect.logWarning(
              `command evaluator: no private pid namespace per evaluation (${probe.reason}); escaped processes are ` +
                "hunted through the process tree and the /proc environment instead, and a candidate can see and signal evolve"
            )
          ),
          Effect.map((probe) => probe._tag === "Available" ? probe.namespace : undefined)
        ),
      (namespace) => Deferred.succeed(probe, namespace)
    ))
    const pythonHint = options.command.some((arg) => arg.endsWith(".py"))
      ? " (for an OpenEvolve evaluator.py or a Shinka evaluate.py, set evaluator.contract: openevolve or shinka)"
      : ""
    /** The full argv for one candidate: bubblewrap or the pid namespace, then the rlimits, then the evaluator. */
    const argvFor = (
      dir: string,
      programPath: string,
      namespace: Sandbox.PidNamespace | undefined
    ): ReadonlyArray<string> => [
      ...(bwrap !== undefined
        ? Sandbox.bwrapPrefix({ bwrap, writable: [dir], readable: [cwd], cwd, unsharePid: true })
        : namespace !== undefined
        ? Sandbox.namespacePrefix(namespace)
        : []),
      ...limitArgs,
      bin,
      ...args,
      programPath
    ]
    const timeout = Duration.millis(options.timeoutMs)
    const killGrace = Duration.millis(options.killGraceMs)
    // Once the group is dead the pipes close at once; this only bounds writers outside the group.
    const drainGrace = Duration.max(killGrace, Duration.seconds(1))

    const tempDir = (programId: string) => {
      const prefix = Sandbox.tempDirPrefix(namespaceId, programId)
      const create = options.tempRoot === undefined
        ? fs.makeTempDirectory({ directory: tempRoot, prefix })
        : fs.makeDirectory(tempRoot, { recursive: true }).pipe(
          Effect.zipRight(fs.makeTempDirectory({ directory: tempRoot, prefix }))
        )
      return Effect.acquireRelease(
        Effect.map(create, (dir) => path.resolve(dir)),
        (dir) => options.keepArtifacts ? Effect.void : Effect.ignore(fs.remove(dir, { recursive: true }))
      )
    }

    /**
     * Runs the evaluator to its end and kills its whole process group and tree; never leaves it
     * running. In a pid namespace (`contained`) the kernel kills what is left when the evaluator
     * ends; otherwise `marker` (an environment entry unique to this candidate) finds orphans that
     * escaped both the group and the tree.
     */
    const run = (command: Command.Command, marker: string, namespace: boolean) =>
      Effect.gen(function*() {
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
          duration: timeout,
          onSuccess: (ending) => ending,
          onTimeout: (): Ending => ({ _tag: "TimedOut" })
        }))

        if (ending._tag === "TimedOut") {
          // SIGTERM to the group and to every descendant (also those that left the group), then
          // the grace period for the main process to exit, then freeze-and-SIGKILL the tree.
          // In a namespace the root is the wrapper: it must live on through the grace period (its
          // death kills the namespace), and its pid 1 shell ignores SIGTERM anyway.
          yield* (namespace ? tree.terminateBelow(proc.pid) : tree.terminate(proc.pid))
          yield* Effect.ignore(Effect.timeout(proc.exitCode, killGrace))
          yield* tree.kill(proc.pid)
        }
        const contained = bwrap !== undefined || namespace
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
        yield* Effect.ignore(Effect.timeout(Fiber.awaitAll(drains), drainGrace))

        // Output still buffered in the pipe at the exit may overflow the cap too.
        const final: Ending = (ending._tag === "Exited" || ending._tag === "Signaled") && overflowed !== undefined
          ? { _tag: "OutputLimit", stream: overflowed }
          : contained && ending._tag === "Exited"
          ? signalFromExitCode(ending)
          : ending
        return { ending: final, stdout: decode(stdout), stderr: decode(stderr) }
      })

    const verdict = (
      ending: Ending,
      stdout: string,
      stderrTail: string,
      metricsFile: string
    ): Effect.Effect<Verdict, PlatformError> =>
      Effect.gen(function*() {
        const logs = { stderr: stderrTail, stdout: tail(stdout) }
        switch (ending._tag) {
          case "TimedOut":
            return failed(
              "timeout",
              `evaluator exceeded the ${options.timeoutMs} ms time limit`,
              Feedback.compose({ ...logs, exit: "killed at the time limit (SIGTERM, then SIGKILL)" })
            )
          case "OutputLimit":
            return failed(
              "output_limit",
              `evaluator wrote more than ${options.outputCapBytes} bytes to ${ending.stream}`,
              Feedback.compose({ stderr: stderrTail })
            )
          case "Signaled":
            return failed(
              "evaluator_error",
              withTail(
                withHint(`evaluator was killed by ${ending.signal}`, Sandbox.limitHint(limits, stderrTail, ending.signal)),
                stderrTail
              ),
              Feedback.compose({ ...logs, exit: `killed by ${ending.signal}` })
            )
          case "Exited":
            if (ending.code !== 0) {
              return failed(
                "evaluator_error",
                withTail(
                  withHint(`evaluator exited with code ${ending.code}`, Sandbox.limitHint(limits, stderrTail, null)),
                  stderrTail
                ),
                Feedback.compose({ ...logs, exit: `exit code ${ending.code}` })
              )
            }
        }
        let source: string
        let text: string
        const file = yield* readResultFile(metricsFile, options.outputCapBytes)
        if (file._tag === "NotRegular") {
          return failed("bad_metrics", "metrics.json is not a regular file (a FIFO, device, directory or symlink): refused")
        }
        if (file._tag === "TooBig") {
          return failed("bad_metrics", `metrics.json is larger than the ${options.outputCapBytes}-byte cap`)
        }
        if (file._tag === "Text") {
          source = "metrics.json"
          text = file.text
        } else {
          source = "the last stdout line"
          text = lastLine(stdout)
          if (text === "") {
            return failed(
              "bad_metrics",
              "no metrics: stdout is empty and $EVOLVE_RESULTS_DIR/metrics.json was not written" + pythonHint,
              Feedback.compose(logs)
            )
          }
        }
        const report = MetricsReport.parse(text, { source, primaryMetric: options.primaryMetric })
        // stdout carried the metrics (or the evaluator wrote metrics.json): not repeated here.
        const feedback = Feedback.compose({ textFeedback: report.textFeedback, stderr: stderrTail })
        return report._tag === "Scored"
          ? { _tag: "Scored", metrics: report.metrics, score: report.score, feedback }
          : { _tag: "Failed", failure: report.failure, feedback }
      })

    const evaluateScoped = (request: EvaluationRequest) =>
      Effect.gen(function*() {
        const dir = yield* tempDir(request.programId)
        const programPath = path.join(dir, `program${request.extension}`)
        const resultsDir = path.join(dir, "results")
        yield* fs.writeFileString(programPath, request.code)
        yield* fs.makeDirectory(resultsDir)
        const namespace = yield* Deferred.await(probe)
        const [first, ...rest] = argvFor(dir, programPath, namespace)
        const command = Command.make(first!, ...rest).pipe(
          Command.workingDirectory(cwd),
          Command.env({ ...parentEnv, EVOLVE_PROGRAM: programPath, EVOLVE_RESULTS_DIR: resultsDir }, {
            extendEnv: false
          }),
          Command.stdin(namespace === undefined ? Stream.empty : "pipe")
        )
        const { ending, stderr, stdout } = yield* run(command, `EVOLVE_RESULTS_DIR=${resultsDir}`, namespace !== undefined)
        return yield* verdict(ending, stdout, tail(stderr), path.join(resultsDir, "metrics.json"))
      }).pipe(Effect.scoped)

    const evaluate = Effect.fn("Evaluator.evaluate")(function*(request: EvaluationRequest) {
      yield* Effect.annotateCurrentSpan("evolve.programId", request.programId)
      const started = yield* Clock.currentTimeMillis
      const result = yield* evaluateScoped(request).pipe(
        Effect.catchAll((error) => Effect.succeed(setupFailure(bin)(error))),
        Effect.catchAllDefect((defect) => Effect.succeed(failed("evaluator_error", `internal error: ${String(defect)}`))),
        Effect.provideService(CommandExecutor.CommandExecutor, executor)
      )
      const durationMs = (yield* Clock.currentTimeMillis) - started
      const outcome: EvaluationOutcome = { ...result, durationMs }
      return outcome
    })

    return Evaluator.of({ evaluate })
  })

/**
 * The `command` contract as the run's `Evaluator`; needs the platform (e.g. `NodeContext.layer`).
 * Fails with a ConfigError when `sandbox: "bwrap"` is asked for and bubblewrap is missing.
 */
export const layer = (
  options: CommandEvaluatorOptions,
  isolation?: Sandbox.Isolation
): Layer.Layer<Evaluator, ConfigError, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Evaluator, make(options, isolation))
