import { AiError } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, TestClock } from "effect"
import { LlmError } from "../../src/domain/Errors.js"
import { EmptyResponseDescription } from "../../src/llm/OpenAiChat.js"
import {
  backoffDelayMs,
  classifyAiError,
  isRetryable,
  llmRetrySchedule,
  parseRetryAfterMs,
  reasonForStatus,
  retryDelayMs,
  tapRetry
} from "../../src/llm/RetryPolicy.js"

const request = {
  method: "POST" as const,
  url: "http://127.0.0.1:1/v1/chat/completions",
  urlParams: [],
  hash: Option.none(),
  headers: {}
}

const responseError = (status: number, headers: Record<string, string> = {}, body?: string) =>
  new AiError.HttpResponseError({
    module: "Test",
    method: "generateText",
    reason: "StatusCode",
    request,
    response: { status, headers },
    ...(body !== undefined ? { body } : {})
  })

describe("RetryPolicy helpers", () => {
  it("maps statuses to reasons", () => {
    expect(reasonForStatus(429)).toBe("rate_limited")
    expect(reasonForStatus(408)).toBe("server")
    expect(reasonForStatus(409)).toBe("server")
    expect(reasonForStatus(500)).toBe("server")
    expect(reasonForStatus(503)).toBe("server")
    expect(reasonForStatus(400)).toBe("bad_request")
    expect(reasonForStatus(401)).toBe("bad_request")
    expect(reasonForStatus(404)).toBe("bad_request")
  })

  it("parses retry-after-ms, Retry-After seconds and HTTP dates, with a cap", () => {
    const now = Date.parse("Wed, 01 Jan 2025 00:00:00 GMT")
    expect(parseRetryAfterMs({}, now)).toBeUndefined()
    expect(parseRetryAfterMs({ "retry-after": "2" }, now)).toBe(2000)
    expect(parseRetryAfterMs({ "Retry-After": "1.5" }, now)).toBe(1500)
    expect(parseRetryAfterMs({ "retry-after-ms": "250", "retry-after": "9" }, now)).toBe(250)
    expect(parseRetryAfterMs({ "retry-after": "Wed, 01 Jan 2025 00:00:07 GMT" }, now)).toBe(7000)
    expect(parseRetryAfterMs({ "retry-after": "Tue, 31 Dec 2024 23:59:00 GMT" }, now)).toBe(0)
    expect(parseRetryAfterMs({ "retry-after": "3600" }, now)).toBe(60_000)
    expect(parseRetryAfterMs({ "retry-after": "soon" }, now)).toBeUndefined()
    expect(parseRetryAfterMs({ "retry-after": "-5" }, now)).toBeUndefined()
  })

  it("computes the backoff like Schedule.exponential + jittered, capped at 8 s", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, 0.5))).toEqual([500, 1000, 2000, 4000, 8000, 8000])
    expect(backoffDelayMs(1, 0)).toBeCloseTo(400)
    expect(backoffDelayMs(1, 1)).toBeCloseTo(600)
    expect(backoffDelayMs(5, 1)).toBe(8000) // 9600 capped
    expect(retryDelayMs(1, 0.5, 3000)).toBe(3000)
    expect(retryDelayMs(3, 0.5, 100)).toBe(2000)
    expect(retryDelayMs(1, 0.5, 3_600_000)).toBe(60_000)
  })

  it("classifies AiErrors", () => {
    const now = 0
    expect(classifyAiError(responseError(429, { "retry-after": "2" }), now)).toMatchObject({
      reason: "rate_limited",
      status: 429,
      retryAfterMs: 2000
    })
    expect(classifyAiError(responseError(503), now).reason).toBe("server")
    expect(classifyAiError(responseError(408), now).reason).toBe("server")
    expect(classifyAiError(responseError(400, {}, "{\"error\":\"bad\"}"), now)).toMatchObject({
      reason: "bad_request",
      status: 400
    })
    expect(
      classifyAiError(
        new AiError.HttpRequestError({ module: "T", method: "m", reason: "Transport", request }),
        now
      ).reason
    ).toBe("connection")
    expect(classifyAiError(new AiError.MalformedOutput({ module: "T", method: "m" }), now).reason).toBe("malformed")
    expect(
      classifyAiError(new AiError.UnknownError({ module: "T", method: "m", description: EmptyResponseDescription }), now)
        .reason
    ).toBe("empty")
    expect(isRetryable(new LlmError({ reason: "timeout", message: "" }))).toBe(true)
    expect(isRetryable(new LlmError({ reason: "connection", message: "" }))).toBe(true)
    expect(isRetryable(new LlmError({ reason: "bad_request", message: "" }))).toBe(false)
    expect(isRetryable(new LlmError({ reason: "malformed", message: "" }))).toBe(false)
    expect(isRetryable(new LlmError({ reason: "empty", message: "" }))).toBe(false)
  })
})

/** Fails with `errors[i]` on attempt i, then succeeds; records the delays the schedule chose. */
const runScript = (errors: ReadonlyArray<LlmError>, maxRetries: number) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const delays = yield* Ref.make<Array<[number, number, string]>>([])
    const schedule = tapRetry(
      llmRetrySchedule(maxRetries),
      (step, delayMs) => Ref.update(delays, (d) => [...d, [step.attempt, delayMs, step.error.reason] as [number, number, string]])
    )
    const fiber = yield* Ref.getAndUpdate(calls, (n) => n + 1).pipe(
      Effect.flatMap((n) => (n < errors.length ? Effect.fail(errors[n]!) : Effect.succeed(n + 1))),
      Effect.retry(schedule),
      Effect.either,
      Effect.fork
    )
    yield* TestClock.adjust("10 minutes")
    const result = yield* Fiber.join(fiber)
    return { result, calls: yield* Ref.get(calls), delays: yield* Ref.get(delays) }
  })

const err = (reason: LlmError["reason"], retryAfterMs?: number) =>
  new LlmError({ reason, message: reason, retryAfterMs })

describe("llmRetrySchedule", () => {
  it.effect("backs off 500, 1000, 2000, 4000, 8000, 8000 ms with jitter pinned to ×1.0", () =>
    Effect.gen(function*() {
      const { calls, delays, result } = yield* runScript(Array.from({ length: 6 }, () => err("server")), 6)
      expect(result._tag).toBe("Right")
      expect(calls).toBe(7)
      expect(delays).toEqual([
        [1, 500, "server"],
        [2, 1000, "server"],
        [3, 2000, "server"],
        [4, 4000, "server"],
        [5, 8000, "server"],
        [6, 8000, "server"]
      ])
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("jitter ×1.2 still respects the 8 s cap", () =>
    Effect.gen(function*() {
      const { delays } = yield* runScript(Array.from({ length: 5 }, () => err("timeout")), 5)
      expect(delays.map(([, d]) => d)).toEqual([600, 1200, 2400, 4800, 8000])
    }).pipe(Effect.withRandomFixed([1])))

  it.effect("stops after maxRetries and returns the last error", () =>
    Effect.gen(function*() {
      const { calls, result } = yield* runScript(Array.from({ length: 10 }, () => err("rate_limited")), 3)
      expect(calls).toBe(4)
      expect(result._tag === "Left" && result.left.reason).toBe("rate_limited")
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("never retries non-retryable reasons", () =>
    Effect.gen(function*() {
      for (const reason of ["bad_request", "malformed", "empty"] as const) {
        const { calls, delays } = yield* runScript([err(reason)], 5)
        expect(calls).toBe(1)
        expect(delays).toEqual([])
      }
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("waits at least the server's retry-after hint, capped at 60 s", () =>
    Effect.gen(function*() {
      const { delays } = yield* runScript([err("rate_limited", 3000), err("rate_limited", 100), err("rate_limited", 600_000)], 5)
      expect(delays.map(([, d]) => d)).toEqual([3000, 1000, 60_000])
    }).pipe(Effect.withRandomFixed([0.5])))
})
