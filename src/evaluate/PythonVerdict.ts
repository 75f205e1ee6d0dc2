/**
 * The verdicts of the openevolve and shinka contracts: from what the warm pool's child reported
 * (see src/evaluate/embedded/evolve_worker_contracts.py) to the candidate's outcome.
 */
import { Schema } from "effect"
import type { EvaluationOutcome, FailureKind } from "../domain/Program.js"
import type { PythonEvaluatorOptions } from "./Evaluator.js"
import * as Feedback from "./Feedback.js"
import * as MetricsReport from "./MetricsReport.js"
import type * as PythonPool from "./PythonPool.js"
import type * as PythonWorkerProtocol from "./PythonWorkerProtocol.js"
import * as ResourceLimits from "./ResourceLimits.js"

export type Verdict =
  | Omit<Extract<EvaluationOutcome, { _tag: "Scored" }>, "durationMs">
  | Omit<Extract<EvaluationOutcome, { _tag: "Failed" }>, "durationMs">

/** A verdict, and the metrics averaged into its score when the evaluator reported no fitness key. */
export type Judged = Verdict & { readonly averaged?: ReadonlyArray<string> | undefined }

export const failed = (kind: FailureKind, message: string, feedback: string | null = null): Verdict => ({
  _tag: "Failed",
  failure: { kind, message },
  feedback
})

const Raised = Schema.Struct({
  ok: Schema.Literal(false),
  error: Schema.String,
  memory: Schema.optional(Schema.Boolean)
})
const OpenEvolveResult = Schema.Union(
  Schema.Struct({
    ok: Schema.Literal(true),
    metrics_json: Schema.String,
    artifacts: Schema.Record({ key: Schema.String, value: Schema.String }),
    stages: Schema.Number,
    notes: Schema.Array(Schema.String)
  }),
  Raised
)
const ShinkaResult = Schema.Union(Schema.Struct({ ok: Schema.Literal(true), exit: Schema.Number }), Raised)
const decodeOpenEvolve = Schema.decodeUnknownEither(OpenEvolveResult)
const decodeShinka = Schema.decodeUnknownEither(ShinkaResult)

const lastLine = (text: string) => {
  const lines = text.trim().split("\n")
  return lines[lines.length - 1]?.trim() ?? ""
}

const tail = (text: string, max = 2048) => {
  const trimmed = text.trim()
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed
}

const withTail = (message: string, stderr: string) => {
  const t = tail(stderr)
  return t === "" ? message : `${message}:\n${t}`
}

const endingText = (ending: PythonWorkerProtocol.Ending) =>
  "signal" in ending ? `killed by ${ending.signal}` : `exit code ${ending.code}`

/** metrics.json of the Shinka contract: numeric `public` entries become metrics; `private` stays out. */
const shinkaFields = (fields: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const pub = fields.public
  if (typeof pub === "object" && pub !== null && !Array.isArray(pub)) {
    for (const [key, value] of Object.entries(pub)) {
      if (typeof value === "number" || typeof value === "boolean") out[key] = value
    }
  }
  for (const [key, value] of Object.entries(fields)) {
    if (key !== "public" && key !== "private") out[key] = value
  }
  return out
}

/** The verdict of each pool outcome, for the openevolve or shinka contract. */
export const make = (options: PythonEvaluatorOptions, evaluatorName: string) => {
  const limits: ResourceLimits.Limits = { memoryMb: options.memoryMb, cpuSeconds: options.cpuSeconds }

  /** A child that ended without reporting: a crash, a signal (memory, CPU), or os._exit. */
  const crashed = (done: PythonWorkerProtocol.Done): Verdict => {
    const signalName = "signal" in done.exit ? done.exit.signal : null
    const hint = ResourceLimits.limitHint(limits, done.stderr, signalName)
    const what = signalName !== null
      ? `the evaluation process was killed by ${signalName}`
      : `the evaluation process ended with exit code ${"code" in done.exit ? done.exit.code : "?"} without a result`
    const message = [what, hint, done.result_error].filter((s) => s !== null && s !== "").join("; ")
    return failed(
      "evaluator_error",
      withTail(message, done.stderr),
      Feedback.compose({ stderr: done.stderr, stdout: done.stdout, exit: endingText(done.exit) })
    )
  }

  const raised = (result: typeof Raised.Type, done: PythonWorkerProtocol.Done, what: string): Verdict => {
    if (result.memory === true) {
      const limit = options.memoryMb === undefined ? "" : ` (memory limit of ${options.memoryMb} MB)`
      return failed(
        "evaluator_error",
        `${what} ran out of memory${limit}: MemoryError`,
        Feedback.compose({ stderr: result.error, stdout: done.stdout })
      )
    }
    return failed(
      "evaluator_error",
      `${what} raised ${lastLine(result.error)}`,
      Feedback.compose({ stderr: done.stderr === "" ? result.error : done.stderr, stdout: done.stdout })
    )
  }

  const openEvolveVerdict = (done: PythonWorkerProtocol.Done): Judged => {
    const decoded = decodeOpenEvolve(done.result)
    if (decoded._tag === "Left") return failed("evaluator_error", "the Python worker sent a malformed result")
    const result = decoded.right
    if (!result.ok) return raised(result, done, "evaluate()")
    const report = MetricsReport.parse(result.metrics_json, {
      source: "the metrics evaluate() returned",
      primaryMetric: options.primaryMetric,
      fallback: "average"
    })
    const feedback = Feedback.compose({
      textFeedback: report.textFeedback,
      notes: result.notes,
      artifacts: result.artifacts,
      stderr: done.stderr
    })
    return report._tag === "Scored"
      ? { _tag: "Scored", metrics: report.metrics, score: report.score, feedback, averaged: report.averaged }
      : { _tag: "Failed", failure: report.failure, feedback }
  }

  type Collected = PythonWorkerProtocol.Done["files"][string] | undefined

  /** A collected file that cannot be used: why, or undefined when it is text (or missing). */
  const unusable = (name: string, file: Collected): string | undefined => {
    if (typeof file !== "object" || file === null) return undefined
    if ("too_big" in file) return `${name} is ${file.too_big} bytes, over the ${options.outputCapBytes}-byte cap`
    return `${name} is not a regular file (${file.refused}): refused`
  }

  const shinkaVerdict = (done: PythonWorkerProtocol.Done): Verdict => {
    const decoded = decodeShinka(done.result)
    if (decoded._tag === "Left") return failed("evaluator_error", "the Python worker sent a malformed result")
    const result = decoded.right
    if (!result.ok) return raised(result, done, evaluatorName)
    const logs = { stderr: done.stderr, stdout: done.stdout }
    if (result.exit !== 0) {
      return failed(
        "evaluator_error",
        withTail(`${evaluatorName} exited with code ${result.exit}`, done.stderr),
        Feedback.compose({ ...logs, exit: `exit code ${result.exit}` })
      )
    }
    const metricsFile = done.files["metrics.json"]
    if (metricsFile === undefined || metricsFile === null) {
      return failed("bad_metrics", `${evaluatorName} wrote no metrics.json to its --results_dir`, Feedback.compose(logs))
    }
    const correctFile = done.files["correct.json"]
    const refused = unusable("metrics.json", metricsFile) ?? unusable("correct.json", correctFile)
    if (refused !== undefined || typeof metricsFile !== "string") {
      return failed("bad_metrics", refused ?? "metrics.json is unusable", Feedback.compose(logs))
    }
    const metrics = MetricsReport.decodeObject(metricsFile, "metrics.json")
    if (metrics._tag === "Failed") return { ...metrics, feedback: Feedback.compose(logs) }
    const fields = shinkaFields(metrics.fields)
    if (typeof correctFile === "string") {
      const correct = MetricsReport.decodeObject(correctFile, "correct.json")
      if (correct._tag === "Failed") return { ...correct, feedback: Feedback.compose(logs) }
      if (correct.fields.correct === false) {
        fields.correct = false
        const error = correct.fields.error
        if (typeof error === "string" && error.trim() !== "") fields.error = error
      }
    }
    const report = MetricsReport.fromFields(fields, { source: "metrics.json", primaryMetric: options.primaryMetric })
    const feedback = Feedback.compose({ textFeedback: report.textFeedback, stderr: done.stderr })
    return report._tag === "Scored"
      ? { _tag: "Scored", metrics: report.metrics, score: report.score, feedback }
      : { _tag: "Failed", failure: report.failure, feedback }
  }

  const verdictOf = (outcome: PythonPool.PoolOutcome): Judged => {
    switch (outcome._tag) {
      case "WorkerError":
        return failed("evaluator_error", outcome.message)
      case "TimedOut":
        return failed("timeout", `evaluation exceeded the ${options.timeoutMs} ms time limit; ${outcome.message}`)
    }
    const done = outcome.done
    if (outcome.timedOut) {
      return failed(
        "timeout",
        `evaluation exceeded the ${options.timeoutMs} ms time limit`,
        Feedback.compose({
          stderr: done.stderr,
          stdout: done.stdout,
          exit: "killed at the time limit (SIGTERM to its process group and tree, then SIGKILL)"
        })
      )
    }
    if (done.overflow !== null) {
      return failed(
        "output_limit",
        done.overflow === "result"
          ? "the evaluation's result was too large"
          : `the evaluation wrote more than ${options.outputCapBytes} bytes to ${done.overflow}`,
        Feedback.compose({ stderr: done.stderr })
      )
    }
    if (done.result === null) return crashed(done)
    return options.contract === "openevolve" ? openEvolveVerdict(done) : shinkaVerdict(done)
  }

  return verdictOf
}
