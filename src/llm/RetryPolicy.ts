/**
 * The one retry loop around LLM calls: classification of provider failures into `LlmError`
 * reasons, `Retry-After` parsing and the backoff schedule.
 *
 * - 429 → rate_limited; 408, 409, 5xx → server; transport failures → connection;
 *   our per-request timeout → timeout; other 4xx → bad_request; undecodable bodies → malformed;
 *   no choices / no text → empty. Only `retryableLlmReasons` are retried.
 * - Backoff: exponential from 500 ms, factor 2, jittered ×[0.8, 1.2], each delay capped at 8 s,
 *   at most `maxRetries` retries. A server hint (`retry-after-ms`, `Retry-After` in seconds or
 *   as an HTTP date) raises the delay to at least the hint, itself capped at 60 s.
 */
import type * as AiError from "@effect/ai/AiError"
import { Clock, Duration, Effect, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"
import { backoff, backoffDelayMs } from "../domain/Backoff.js"
import { LlmError, type LlmErrorReason, retryableLlmReasons } from "../domain/Errors.js"
import { EmptyResponseDescription, scrubUrl } from "./OpenAiChat.js"

export { BACKOFF_FACTOR, BASE_DELAY_MS, backoffDelayMs, JITTER_MAX, JITTER_MIN, MAX_DELAY_MS } from "../domain/Backoff.js"
/** Sanity cap on a server's retry-after hint. */
export const RETRY_AFTER_CAP_MS = 60_000

// -----------------------------------------------------------------------------
// Pure helpers
// -----------------------------------------------------------------------------

export const reasonForStatus = (status: number): LlmErrorReason =>
  status === 429
    ? "rate_limited"
    : status === 408 || status === 409 || status >= 500
    ? "server"
    : status >= 400
    ? "bad_request"
    : "malformed"

export const isRetryable = (error: LlmError): boolean => retryableLlmReasons.has(error.reason)

const headerValue = (headers: Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const direct = headers[name]
  if (direct !== undefined) return direct
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return headers[key]
  }
  return undefined
}

/**
 * The server's retry hint in milliseconds, or undefined when absent or unparseable.
 * `retry-after-ms` (OpenAI, Azure) wins over `Retry-After`, which may be delta-seconds or an
 * HTTP date (resolved against `nowMs`, from Clock). Capped at `capMs`; never negative.
 */
export const parseRetryAfterMs = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMs: number,
  capMs: number = RETRY_AFTER_CAP_MS
): number | undefined => {
  const cap = (ms: number) => Math.min(Math.max(0, ms), capMs)
  const ms = headerValue(headers, "retry-after-ms")?.trim()
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return cap(Number(ms))
  const after = headerValue(headers, "retry-after")?.trim()
  if (after === undefined || after === "") return undefined
  if (/^\d+(\.\d+)?$/.test(after)) return cap(Number(after) * 1000)
  if (!/[a-z]/i.test(after)) return undefined // not delta-seconds and not an HTTP date ("-5", "1e3")
  const date = Date.parse(after)
  if (Number.isNaN(date)) return undefined
  return cap(date - nowMs)
}

/** The delay actually waited before retry `retry`: the backoff, raised to the (capped) server hint. */
export const retryDelayMs = (retry: number, random: number, retryAfterMs?: number): number =>
  Math.max(backoffDelayMs(retry, random), Math.min(retryAfterMs ?? 0, RETRY_AFTER_CAP_MS))

const snippet = (body: string | undefined): string => {
  if (body === undefined) return ""
  const flat = body.replace(/\s+/g, " ").trim()
  return flat.length === 0 ? "" : `: ${flat.length > 300 ? `${flat.slice(0, 300)}…` : flat}`
}

/**
 * Maps an @effect/ai error to an `LlmError`. Messages are built from scrubbed fields only
 * (status, URL without credentials, a body snippet), never from headers.
 */
export const classifyAiError = (error: AiError.AiError, nowMs: number): LlmError => {
  switch (error._tag) {
    case "HttpRequestError":
      return new LlmError({
        reason: error.reason === "Transport" ? "connection" : "bad_request",
        message: `${error.reason === "Transport" ? "connection failed" : "invalid request"} (${error.request.method} ${scrubUrl(error.request.url)})${
          error.description ? `: ${error.description}` : ""
        }`
      })
    case "HttpResponseError": {
      const status = error.response.status
      const ok = status >= 200 && status < 300
      const reason = error.reason === "StatusCode" && !ok
        ? reasonForStatus(status)
        : ok
        ? "malformed"
        : reasonForStatus(status)
      const retryAfterMs = parseRetryAfterMs(error.response.headers, nowMs)
      return new LlmError({
        reason,
        status,
        retryAfterMs,
        message: `HTTP ${status} from ${error.request.method} ${scrubUrl(error.request.url)}${
          error.description && !error.description.startsWith("HTTP ") ? ` (${error.description})` : ""
        }${snippet(error.body)}`
      })
    }
    case "MalformedOutput":
      return new LlmError({ reason: "malformed", message: `malformed response: ${error.description ?? "undecodable"}` })
    case "MalformedInput":
      return new LlmError({ reason: "bad_request", message: `malformed request: ${error.description ?? "unencodable"}` })
    case "UnknownError":
      return error.description === EmptyResponseDescription
        ? new LlmError({ reason: "empty", message: error.description })
        : new LlmError({ reason: "malformed", message: `${error.module}.${error.method}: ${error.description ?? "unknown error"}` })
  }
}

/** `classifyAiError` at the current Clock time (for HTTP-date `Retry-After`). */
export const toLlmError = (error: AiError.AiError): Effect.Effect<never, LlmError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(classifyAiError(error, now)))

export const timeoutError = (timeoutMs: number): LlmError =>
  new LlmError({ reason: "timeout", message: `no response within ${timeoutMs / 1000} s` })

export const emptyError = (finishReason: string): LlmError =>
  new LlmError({ reason: "empty", message: `the model returned no text (finish reason: ${finishReason})` })

// -----------------------------------------------------------------------------
// Schedule
// -----------------------------------------------------------------------------

export interface LlmRetryStep {
  /** The number of the attempt that just failed (1 = the first try). */
  readonly attempt: number
  readonly error: LlmError
}

/**
 * The named LLM retry schedule, fed with the `LlmError` of each failed attempt:
 * exponential backoff (500 ms × 2ⁿ), jittered, each delay capped at 8 s, at most `maxRetries`
 * retries, only for retryable reasons, and never shorter than the server's (capped) hint.
 */
export const llmRetrySchedule = (maxRetries: number): Schedule.Schedule<LlmRetryStep, LlmError> => {
  // A schedule is an immutable value: one per retry count, not one per call.
  let schedule = schedules.get(maxRetries)
  if (schedule === undefined) {
    schedule = makeLlmRetrySchedule(maxRetries)
    schedules.set(maxRetries, schedule)
  }
  return schedule
}

const schedules = new Map<number, Schedule.Schedule<LlmRetryStep, LlmError>>()

const makeLlmRetrySchedule = (maxRetries: number): Schedule.Schedule<LlmRetryStep, LlmError> =>
  backoff().pipe(
    Schedule.intersect(Schedule.recurs(maxRetries)), // both must continue: bounds the count
    Schedule.intersect(Schedule.identity<LlmError>()),
    Schedule.whileInput(isRetryable),
    Schedule.map(([[, retries], error]): LlmRetryStep => ({ attempt: retries + 1, error })),
    Schedule.modifyDelay((step, delay) =>
      step.error.retryAfterMs === undefined
        ? delay
        : Duration.max(delay, Duration.millis(Math.min(step.error.retryAfterMs, RETRY_AFTER_CAP_MS)))
    )
  )

/**
 * Runs `f` with each step's output and its final delay whenever the schedule decides to
 * continue, i.e. just before the retry sleep (a `Schedule.onDecision` that also knows `now`).
 */
export const tapRetry = <Out, In, R, R2>(
  self: Schedule.Schedule<Out, In, R>,
  f: (out: Out, delayMs: number) => Effect.Effect<void, never, R2>
): Schedule.Schedule<Out, In, R | R2> =>
  Schedule.makeWithState(self.initial, (now, input, state) =>
    Effect.flatMap(self.step(now, input, state), (result) => {
      const [, out, decision] = result
      return ScheduleDecision.isContinue(decision)
        ? Effect.as(f(out, Math.max(0, ScheduleIntervals.start(decision.intervals) - now)), result)
        : Effect.succeed(result)
    }))

/**
 * Stops `self` when the next attempt would start after `deadlineMs` (a `Clock` time in ms):
 * the overall time budget of a call, all attempts and backoff sleeps included.
 */
export const untilDeadline = <Out, In, R>(
  self: Schedule.Schedule<Out, In, R>,
  deadlineMs: number
): Schedule.Schedule<Out, In, R> =>
  Schedule.makeWithState(self.initial, (now, input, state) =>
    Effect.map(self.step(now, input, state), (result) => {
      const [nextState, out, decision] = result
      return ScheduleDecision.isContinue(decision) && ScheduleIntervals.start(decision.intervals) > deadlineMs
        ? [nextState, out, ScheduleDecision.done] as const
        : result
    }))
