/**
 * The in-process evaluation contract: the run's `Evaluator` over a function of the embedding
 * application, an Effect or an async function, instead of a subprocess.
 *
 * The function returns metrics (an object of numbers; booleans count as 1/0) or a bare number
 * (taken as `{ score: n }`). The rules match the `command` contract (`MetricsReport.parse`):
 * fitness is `combined_score` when present, else `primaryMetric`; `error` (a non-empty string)
 * or `correct: false` marks the candidate failed; a string `text_feedback` goes to the next
 * prompt; a metric that is not a finite number is "bad_metrics". A thrown error or failed
 * Effect is "evaluator_error", a call past `timeoutMs` is "timeout" (the Effect is interrupted
 * and an async function's `signal` aborted), so `evaluate` never fails, as the engine requires.
 */
import * as ProgramTree from "../domain/ProgramTree.js"
import { Cause, Clock, Duration, Effect, Layer, Option } from "effect"
import type { EvaluationOutcome, FailureKind, Metrics } from "../domain/Program.js"
import { type EvaluationRequest, Evaluator } from "./Evaluator.js"
import { combinedScore } from "./MetricsReport.js"
import * as Traced from "../domain/Traced.js"

/** What an evaluation function may return: metrics, or a bare score. */
export type MetricsLike = number | Readonly<Record<string, unknown>>

/** What an async evaluation function receives besides the code. */
export interface EvaluateContext {
  readonly programId: string
  /** File extension of the program, with the dot (".js", ".py"). */
  readonly extension: string
  /** Aborted when the evaluation times out or the run stops it. */
  readonly signal: AbortSignal
  /** A multi-file program: its files by path (the code is then their packed text). */
  readonly files?: Readonly<Record<string, string>> | undefined
}

export interface FunctionEvaluatorOptions {
  /** Fitness metric when the function reports no `combined_score` (default "score"). */
  readonly primaryMetric?: string | undefined
  /** Per-candidate wall-clock limit; none by default. */
  readonly timeoutMs?: number | undefined
}

const textFeedbackChars = 4096

const failed = (kind: FailureKind, message: string, feedback: string | null = null) => ({
  _tag: "Failed" as const,
  failure: { kind, message },
  feedback
})

const describe = (value: unknown) =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message === "" ? error.name : error.message
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

/** Turns what an evaluation function returned into an outcome (without its duration). */
export const toVerdict = (
  value: unknown,
  primaryMetric = "score"
): Omit<Extract<EvaluationOutcome, { _tag: "Scored" }>, "durationMs"> | ReturnType<typeof failed> => {
  if (typeof value === "number") {
    return Number.isFinite(value)
      ? { _tag: "Scored", metrics: { [primaryMetric]: value }, score: value, feedback: null }
      : failed("bad_metrics", `the evaluation function returned ${value}; a score must be a finite number`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return failed("bad_metrics", `the evaluation function must return an object of metrics or a number, got ${describe(value)}`)
  }
  const fields = value as Record<string, unknown>
  const feedback = typeof fields.text_feedback === "string" && fields.text_feedback.trim() !== ""
    ? fields.text_feedback.slice(0, textFeedbackChars)
    : null
  const reasons: Array<string> = []
  if (typeof fields.error === "string" && fields.error.trim() !== "") reasons.push(fields.error.trim())
  if (fields.correct === false) reasons.push("correct: false")
  if (reasons.length > 0) return failed("evaluator_error", `evaluator reported ${reasons.join("; ")}`, feedback)

  const metrics: Record<string, number> = {}
  for (const [key, metric] of Object.entries(fields)) {
    if (typeof metric === "boolean") metrics[key] = metric ? 1 : 0
    else if (typeof metric === "number") {
      if (!Number.isFinite(metric)) return failed("bad_metrics", `metric "${key}" is not a finite number (${metric})`, feedback)
      metrics[key] = metric
    }
  }
  const fitnessKey = combinedScore in fields ? combinedScore : primaryMetric
  const score = fields[fitnessKey]
  if (typeof score !== "number") {
    const keys = Object.keys(fields)
    return failed(
      "bad_metrics",
      score === undefined
        ? `no fitness metric: expected "${combinedScore}" or "${primaryMetric}" (got ${keys.length > 0 ? keys.join(", ") : "an empty object"})`
        : `fitness metric "${fitnessKey}" must be a number, got ${describe(score)}`,
      feedback
    )
  }
  return { _tag: "Scored", metrics: metrics as Metrics, score, feedback }
}

/**
 * Builds the `Evaluator` over an Effect-returning function. Its requirements are captured when
 * the service is built, so `evaluate` itself needs nothing.
 */
export const make = <E, R>(
  evaluate: (request: EvaluationRequest) => Effect.Effect<MetricsLike, E, R>,
  options: FunctionEvaluatorOptions = {}
): Effect.Effect<Evaluator["Type"], never, R> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const primaryMetric = options.primaryMetric ?? "score"
    const limit = options.timeoutMs === undefined ? Option.none() : Option.some(Duration.millis(options.timeoutMs))

    const verdictOf = (request: EvaluationRequest) => {
      const call = Effect.suspend(() => evaluate(request)).pipe(
        Effect.map((value) => toVerdict(value, primaryMetric)),
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          const failure = Cause.failureOption(cause)
          const message = Option.isSome(failure)
            ? messageOf(failure.value)
            : `internal error: ${messageOf(Cause.squash(cause))}`
          return Effect.succeed(failed("evaluator_error", message))
        })
      )
      return Option.match(limit, {
        onNone: () => call,
        onSome: (duration) =>
          Effect.timeoutTo(call, {
            duration,
            onSuccess: (verdict) => verdict,
            onTimeout: () => failed("timeout", `evaluation exceeded the ${options.timeoutMs} ms time limit`)
          })
      })
    }

    return Evaluator.of({
      evaluate: Traced.fn("Evaluator.evaluate")(function*(request: EvaluationRequest) {
        yield* Traced.annotateCurrentSpan({ "evolve.programId": request.programId, "evolve.evaluator": "function" })
        const started = yield* Clock.currentTimeMillis
        const verdict = yield* verdictOf(request).pipe(Effect.provide(context))
        const durationMs = (yield* Clock.currentTimeMillis) - started
        if (verdict._tag === "Scored") yield* Traced.annotateCurrentSpan({ "evolve.score": verdict.score })
        else yield* Traced.annotateCurrentSpan({ "evolve.failure": verdict.failure.kind })
        const outcome: EvaluationOutcome = { ...verdict, durationMs }
        return outcome
      })
    })
  })

/** The run's `Evaluator` over an Effect-returning function (no subprocess). */
export const layer = <E, R>(
  evaluate: (request: EvaluationRequest) => Effect.Effect<MetricsLike, E, R>,
  options: FunctionEvaluatorOptions = {}
): Layer.Layer<Evaluator, never, R> => Layer.effect(Evaluator, make(evaluate, options))

/** An async (or plain) function of the code as an Effect-returning evaluation function. */
export const fromPromise = (
  evaluate: (code: string, context: EvaluateContext) => MetricsLike | PromiseLike<MetricsLike>
) =>
(request: EvaluationRequest): Effect.Effect<MetricsLike, unknown> =>
  Effect.tryPromise({
    try: async (signal) => evaluate(request.code, {
      programId: request.programId,
      extension: request.extension,
      signal,
      ...(ProgramTree.isPacked(request.code) ? { files: ProgramTree.filesRecord(request.code) } : {})
    }),
    catch: (error) => error
  })

/** The run's `Evaluator` over an async (or plain) function of the code. */
export const layerPromise = (
  evaluate: (code: string, context: EvaluateContext) => MetricsLike | PromiseLike<MetricsLike>,
  options: FunctionEvaluatorOptions = {}
): Layer.Layer<Evaluator> => layer(fromPromise(evaluate), options)
