/**
 * The `command` contract's verdict: from how the evaluator process ended, its output and the
 * metrics.json it may have left (read defensively: the candidate controls it) to the outcome.
 */
import type { PlatformError } from "@effect/platform/Error"
import { Effect } from "effect"
import { constants as fsConstants } from "node:fs"
import { open as openFile } from "node:fs/promises"
import type { EvaluationOutcome, FailureKind } from "../domain/Program.js"
import type { Ending } from "./CommandProcess.js"
import * as Feedback from "./Feedback.js"
import * as MetricsReport from "./MetricsReport.js"
import type { PoolOutcome } from "./PythonPool.js"
import type { Done } from "./PythonWorkerProtocol.js"
import * as ResourceLimits from "./ResourceLimits.js"

/** How much of stderr goes into failure messages and feedback. */
const stderrTailChars = 2048

/** An outcome before its duration is known. */
export type Verdict =
  | Omit<Extract<EvaluationOutcome, { _tag: "Scored" }>, "durationMs">
  | Omit<Extract<EvaluationOutcome, { _tag: "Failed" }>, "durationMs">

const lastLine = (text: string) => {
  const trimmed = text.trimEnd()
  return trimmed.slice(trimmed.lastIndexOf("\n") + 1).trim()
}

export const tail = (text: string) => {
  const trimmed = text.trim()
  return trimmed.length > stderrTailChars ? `…${trimmed.slice(-stderrTailChars)}` : trimmed
}

const withTail = (message: string, stderrTail: string) => stderrTail === "" ? message : `${message}:\n${stderrTail}`

const withHint = (message: string, hint: string | null) => hint === null ? message : `${message} (${hint})`

export const failed = (kind: FailureKind, message: string, feedback: string | null = null): Verdict => ({
  _tag: "Failed",
  failure: { kind, message },
  feedback
})

export const setupFailure = (command: string) => (error: PlatformError): Verdict =>
  error._tag === "SystemError" && error.module === "Command" && error.method === "spawn"
    ? failed("evaluator_error", `could not start evaluator "${command}": ${error.description ?? error.message}`)
    : failed("evaluator_error", `evaluation failed: ${error.message}`)

/** metrics.json as the candidate left it: it controls that file, so it is read defensively. */
export type ResultFile =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "NotRegular" }
  | { readonly _tag: "TooBig" }
  | { readonly _tag: "Text"; readonly text: string }

/**
 * Reads a file the candidate wrote: only a regular file, opened without following a symlink and
 * without blocking (a FIFO nobody writes to would block `open` forever, and a symlink to
 * /dev/zero never ends: both hung the evaluation slot for good), and never more than `cap` bytes.
 */
export const readResultFile = (file: string, cap: number): Effect.Effect<ResultFile> =>
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

/** The "no metrics" failure of a Python command evaluator points at the Python contracts. */
export const pythonContractHint =
  " (for an OpenEvolve evaluator.py or a Shinka evaluate.py, set evaluator.contract: openevolve or shinka)"

export interface VerdictOptions {
  readonly timeoutMs: number
  readonly outputCapBytes: number
  readonly primaryMetric: string
  readonly limits: ResourceLimits.Limits
  /** Appended to the "no metrics" failure (a hint at the Python contracts). */
  readonly noMetricsHint: string
}

/** The candidate's outcome from how its evaluator ended, its output and its metrics.json. */
export const verdict = (
  options: VerdictOptions,
  ending: Ending,
  stdout: string,
  stderrTail: string,
  metricsFile: Effect.Effect<ResultFile>
): Effect.Effect<Verdict> =>
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
            withHint(`evaluator was killed by ${ending.signal}`, ResourceLimits.limitHint(options.limits, stderrTail, ending.signal)),
            stderrTail
          ),
          Feedback.compose({ ...logs, exit: `killed by ${ending.signal}` })
        )
      case "Exited":
        if (ending.code !== 0) {
          return failed(
            "evaluator_error",
            withTail(
              withHint(`evaluator exited with code ${ending.code}`, ResourceLimits.limitHint(options.limits, stderrTail, null)),
              stderrTail
            ),
            Feedback.compose({ ...logs, exit: `exit code ${ending.code}` })
          )
        }
    }
    let source: string
    let text: string
    const file = yield* metricsFile
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
          "no metrics: stdout is empty and $EVOLVE_RESULTS_DIR/metrics.json was not written" + options.noMetricsHint,
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

/** How a child of the warm pool ended, in the terms of a cold evaluator process. */
const endingOf = (done: Done, timedOut: boolean): Ending => {
  if (timedOut) return { _tag: "TimedOut" }
  // "result": the child flooded the worker's own pipe, and the worker SIGKILLed it.
  if (done.overflow !== null) {
    return done.overflow === "result" ? { _tag: "Signaled", signal: "SIGKILL" } : { _tag: "OutputLimit", stream: done.overflow }
  }
  return "signal" in done.exit ? { _tag: "Signaled", signal: done.exit.signal } : { _tag: "Exited", code: done.exit.code }
}

/** A file the worker collected from the results dir. */
const collectedFile = (file: Done["files"][string] | undefined): ResultFile =>
  file === undefined || file === null
    ? { _tag: "Missing" }
    : typeof file === "string"
    ? { _tag: "Text", text: file }
    : "too_big" in file
    ? { _tag: "TooBig" }
    : { _tag: "NotRegular" }

/** The `command` contract started warm on the Python pool: each outcome judged as its cold run would be. */
export const fromPool = (options: VerdictOptions) => (outcome: PoolOutcome): Effect.Effect<Verdict> => {
  switch (outcome._tag) {
    case "WorkerError":
      return Effect.succeed(failed("evaluator_error", outcome.message))
    case "TimedOut":
      return Effect.succeed(failed("timeout", `evaluator exceeded the ${options.timeoutMs} ms time limit; ${outcome.message}`))
  }
  const done = outcome.done
  const metricsFile = Effect.sync(() => collectedFile(done.files["metrics.json"]))
  return verdict(options, endingOf(done, outcome.timedOut), done.stdout, tail(done.stderr), metricsFile)
}
