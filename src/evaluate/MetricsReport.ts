import type { Failure, Metrics } from "../domain/Program.js"

/**
 * What an evaluator reported, before the runner adds timing and stderr. Shared by every
 * evaluation contract, so "what counts as a metric" is decided in one place.
 */
export type Report =
  | {
    readonly _tag: "Scored"
    readonly metrics: Metrics
    readonly score: number
    readonly textFeedback: string | null
    /** With `fallback: "average"`: the metrics whose mean became the score (no fitness key was reported). */
    readonly averaged?: ReadonlyArray<string>
  }
  | {
    readonly _tag: "Failed"
    readonly failure: Failure
    readonly textFeedback: string | null
  }

/** The fitness key that wins over the configured primary metric. */
export const combinedScore = "combined_score"

const textFeedbackChars = 4096
const quotedChars = 200

type FailedReport = Extract<Report, { _tag: "Failed" }>

const badMetrics = (message: string, textFeedback: string | null = null): FailedReport => ({
  _tag: "Failed",
  failure: { kind: "bad_metrics", message },
  textFeedback
})

const quote = (text: string) =>
  JSON.stringify(text.length > quotedChars ? `${text.slice(0, quotedChars)}…` : text)

const describe = (value: unknown) => value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/** A decoded JSON object, or why the text is not one. */
export type Decoded =
  | { readonly _tag: "Object"; readonly fields: Record<string, unknown> }
  | FailedReport

/**
 * Decodes an evaluator's JSON text into an object. `NaN`/`Infinity` (which Python's
 * `json.dumps` emits) are not JSON and are rejected as "bad_metrics" with a message that says so.
 */
export const decodeObject = (text: string, source: string): Decoded => {
  let report: unknown
  try {
    report = JSON.parse(text)
  } catch {
    return badMetrics(
      /\b(NaN|Infinity)\b/.test(text)
        ? `${source} contains NaN or Infinity; metrics must be finite numbers: ${quote(text)}`
        : `${source} is not valid JSON: ${quote(text)}`
    )
  }
  if (typeof report !== "object" || report === null || Array.isArray(report)) {
    return badMetrics(`${source} must be a JSON object of metrics, got ${describe(report)}`)
  }
  return { _tag: "Object", fields: report as Record<string, unknown> }
}

/**
 * Parses an evaluator's JSON report (`source` names it in messages, e.g. "metrics.json").
 *
 * - The report must be a JSON object. `NaN`/`Infinity` (which Python's `json.dumps` emits)
 *   are not JSON and are rejected as "bad_metrics" with a message that says so.
 * - Then `fromFields` decides (below).
 */
export const parse = (text: string, options: FitnessOptions): Report => {
  const decoded = decodeObject(text, options.source)
  return decoded._tag === "Object" ? fromFields(decoded.fields, options) : decoded
}

export interface FitnessOptions {
  /** Names the report in messages, e.g. "metrics.json". */
  readonly source: string
  readonly primaryMetric: string
  /**
   * Without `combined_score` or the primary metric: "average" scores the mean of the numeric
   * metrics (booleans as 1/0), as OpenEvolve does; otherwise that is "bad_metrics".
   */
  readonly fallback?: "average"
}

/**
 * Judges a decoded report (shared by every contract):
 *
 * - Metrics are the top-level finite numbers; booleans count as 1/0 (so `correct` or
 *   `valid` flags can serve as features); strings, arrays and nested objects are ignored.
 *   A number that is not finite (`1e999`) is "bad_metrics".
 * - Fitness is `combined_score` when present, else `primaryMetric`; it must be a number. With
 *   `fallback: "average"` and neither present, the mean of the metrics (OpenEvolve's rule).
 * - An evaluator that reports `error` (a non-empty string) or `correct: false` judged the
 *   candidate a failure: "evaluator_error" with that message, whatever the scores say.
 * - A string `text_feedback` is returned for the next prompt (capped), also on failure.
 */
export const fromFields = (fields: Record<string, unknown>, options: FitnessOptions): Report => {
  const { primaryMetric, source } = options
  const textFeedback = typeof fields.text_feedback === "string" && fields.text_feedback.trim() !== ""
    ? fields.text_feedback.slice(0, textFeedbackChars)
    : null

  const reasons: Array<string> = []
  if (typeof fields.error === "string" && fields.error.trim() !== "") reasons.push(fields.error.trim())
  if (fields.correct === false) reasons.push("correct: false")
  if (reasons.length > 0) {
    return {
      _tag: "Failed",
      failure: { kind: "evaluator_error", message: `evaluator reported ${reasons.join("; ")}` },
      textFeedback
    }
  }

  const metrics: Record<string, number> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === "boolean") {
      metrics[key] = value ? 1 : 0
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) return badMetrics(`metric "${key}" is not a finite number`, textFeedback)
      metrics[key] = value
    }
  }

  const fitnessKey = combinedScore in fields ? combinedScore : primaryMetric
  const score = fields[fitnessKey]
  const averaged = Object.keys(metrics)
  if (score === undefined && options.fallback === "average" && averaged.length > 0) {
    const mean = averaged.reduce((sum, key) => sum + metrics[key]!, 0) / averaged.length
    return { _tag: "Scored", metrics, score: mean, textFeedback, averaged }
  }
  if (score === undefined) {
    const keys = Object.keys(fields)
    return badMetrics(
      `no fitness metric: expected "${combinedScore}" or "${primaryMetric}" in ${source}` +
        (keys.length > 0 ? ` (got ${keys.join(", ")})` : " (got an empty object)"),
      textFeedback
    )
  }
  if (typeof score !== "number") {
    return badMetrics(`fitness metric "${fitnessKey}" must be a number, got ${describe(score)}`, textFeedback)
  }
  return { _tag: "Scored", metrics, score, textFeedback }
}
