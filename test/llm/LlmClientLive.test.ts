import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Fiber, Layer, Option, Queue, Redacted, Ref, TestClock, TestServices } from "effect"
import type { LlmError } from "../../src/domain/Errors.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import { LlmClient, type LlmRetryInfo } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import { fakeOpenAiServer, type FakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const SECRET = "sk-live-DO-NOT-LEAK-9876543210"

const PROGRAM = "# EVOLVE-BLOCK-START\nrate = 0.5\nsteps = 10\n# EVOLVE-BLOCK-END\nprint(rate * steps)"
const REQUEST = {
  system: "You evolve programs.",
  user: `Make it better.\n\n\`\`\`python\n${PROGRAM}\n\`\`\`\n`
}

const config = (overrides: Partial<LlmConfig> = {}): LlmConfig =>
  LlmConfig.make({
    provider: "openai-chat",
    model: "test-model",
    base_url: "http://127.0.0.1:9/v1",
    ...overrides
  })

// -----------------------------------------------------------------------------
// A scripted in-memory HttpClient: deterministic under TestClock
// -----------------------------------------------------------------------------

type Reply =
  | { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | "hang"
  | { readonly sleepMs: number; readonly then: Reply }

const ok = (content: string | null = "<<<<<<< SEARCH\nrate = 0.5\n=======\nrate = 0.6\n>>>>>>> REPLACE", extra: {
  readonly usage?: unknown
  readonly reasoning?: string
  readonly finishReason?: string
  readonly choices?: Array<unknown>
} = {}): Reply => ({
  status: 200,
  body: {
    id: "x",
    choices: extra.choices ??
      [{
        index: 0,
        message: { role: "assistant", content, ...(extra.reasoning ? { reasoning_content: extra.reasoning } : {}) },
        finish_reason: extra.finishReason ?? "stop"
      }],
    ...(extra.usage === undefined ? {} : { usage: extra.usage })
  }
})

const status = (code: number, headers: Record<string, string> = {}, body: unknown = { error: { message: "nope" } }) => ({
  status: code,
  headers,
  body
})

const scripted = (replies: ReadonlyArray<Reply>) =>
  Effect.gen(function*() {
    const times = yield* Ref.make<Array<number>>([])
    const client = HttpClient.make((request) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const n = (yield* Ref.getAndUpdate(times, (t) => [...t, now])).length
        let reply = replies[Math.min(n, replies.length - 1)]!
        while (typeof reply === "object" && "sleepMs" in reply) {
          yield* Effect.sleep(reply.sleepMs)
          reply = reply.then
        }
        if (reply === "hang") return yield* Effect.never
        const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
        return HttpClientResponse.fromWeb(
          request,
          new Response(text, { status: reply.status, headers: { "content-type": "application/json", ...reply.headers } })
        )
      })
    )
    return { times, client }
  })

const runScripted = (
  replies: ReadonlyArray<Reply>,
  overrides: Partial<LlmConfig> = {},
  apiKey: Option.Option<Redacted.Redacted> = Option.none()
) =>
  Effect.gen(function*() {
    const { client, times } = yield* scripted(replies)
    const retries = yield* Ref.make<Array<LlmRetryInfo>>([])
    const fiber = yield* Effect.gen(function*() {
      const llm = yield* LlmClient
      return yield* llm.complete(REQUEST, (info) => Ref.update(retries, (r) => [...r, info]))
    }).pipe(
      Effect.provide(LlmClientLive.layer(config(overrides), apiKey).pipe(
        Layer.provide([Layer.succeed(HttpClient.HttpClient, client), LlmClientLive.featuresOff])
      )),
      Effect.either,
      Effect.fork
    )
    yield* TestClock.adjust("30 minutes")
    const result = yield* Fiber.join(fiber)
    return { result, times: yield* Ref.get(times), retries: yield* Ref.get(retries) }
  }).pipe(Effect.withRandomFixed([0.5]))

const leftOf = <A>(result: { readonly _tag: "Left"; readonly left: LlmError } | { readonly _tag: "Right"; readonly right: A }) => {
  if (result._tag !== "Left") throw new Error("expected a failure")
  return result.left
}
const rightOf = <A>(result: { readonly _tag: "Left"; readonly left: LlmError } | { readonly _tag: "Right"; readonly right: A }) => {
  if (result._tag !== "Right") throw new Error(`expected a success, got ${result.left.reason}: ${result.left.message}`)
  return result.right
}

describe("LlmClientLive retry policy (TestClock, scripted HttpClient)", () => {
  it.effect("retries 429 with exponential backoff, then succeeds", () =>
    Effect.gen(function*() {
      const { result, retries, times } = yield* runScripted([status(429), status(429), ok()])
      const reply = rightOf(result)
      expect(reply.attempts).toBe(3)
      expect(retries).toEqual([
        { model: "test-model", attempt: 1, reason: "rate_limited", delayMs: 500 },
        { model: "test-model", attempt: 2, reason: "rate_limited", delayMs: 1000 }
      ])
      expect(times).toEqual([0, 500, 1500])
      expect(reply.latencyMs).toBe(1500)
      expect(reply.text).toContain("rate = 0.6")
    }))

  it.effect("honours Retry-After in seconds", () =>
    Effect.gen(function*() {
      const { result, times, retries } = yield* runScripted([status(429, { "retry-after": "3" }), ok()])
      expect(rightOf(result).attempts).toBe(2)
      expect(retries[0]).toEqual({ model: "test-model", attempt: 1, reason: "rate_limited", delayMs: 3000 })
      expect(times).toEqual([0, 3000])
    }))

  it.effect("honours Retry-After as an HTTP date relative to Clock", () =>
    Effect.gen(function*() {
      // TestClock starts at the epoch: the date is 5 s in the future.
      const { result, times } = yield* runScripted([status(429, { "retry-after": "Thu, 01 Jan 1970 00:00:05 GMT" }), ok()])
      expect(rightOf(result).attempts).toBe(2)
      expect(times).toEqual([0, 5000])
    }))

  it.effect("honours retry-after-ms and caps absurd hints at 60 s", () =>
    Effect.gen(function*() {
      const { times } = yield* runScripted([
        status(429, { "retry-after-ms": "1500" }),
        status(503, { "retry-after": "86400" }),
        ok()
      ])
      expect(times).toEqual([0, 1500, 61_500])
    }))

  it.effect("does not retry 400", () =>
    Effect.gen(function*() {
      const { result, times, retries } = yield* runScripted([status(400), ok()])
      const error = leftOf(result)
      expect(error.reason).toBe("bad_request")
      expect(error.status).toBe(400)
      expect(error.attempts).toBe(1)
      expect(times).toHaveLength(1)
      expect(retries).toEqual([])
    }))

  it.effect("does not retry malformed JSON", () =>
    Effect.gen(function*() {
      const { result, times } = yield* runScripted([{ status: 200, body: "{ not json" }, ok()])
      expect(leftOf(result).reason).toBe("malformed")
      expect(times).toHaveLength(1)
    }))

  it.effect("reports empty choices as empty, without retrying", () =>
    Effect.gen(function*() {
      const { result, times } = yield* runScripted([ok("x", { choices: [] }), ok()])
      expect(leftOf(result).reason).toBe("empty")
      expect(times).toHaveLength(1)
    }))

  it.effect("retries 500, 503, 408 and 409", () =>
    Effect.gen(function*() {
      const { result, retries } = yield* runScripted([status(500), status(503), status(408), status(409), ok()])
      expect(rightOf(result).attempts).toBe(5)
      expect(retries.map((r) => [r.reason, r.delayMs])).toEqual([
        ["server", 500],
        ["server", 1000],
        ["server", 2000],
        ["server", 4000]
      ])
    }))

  it.effect("gives up after max_retries with the last reason and the attempt count", () =>
    Effect.gen(function*() {
      const { result, times } = yield* runScripted([status(503)], { max_retries: 2 })
      const error = leftOf(result)
      expect(error.reason).toBe("server")
      expect(error.attempts).toBe(3)
      expect(times).toEqual([0, 500, 1500])
    }))

  it.effect("times out a hung request and retries it", () =>
    Effect.gen(function*() {
      const { result, retries, times } = yield* runScripted(["hang", ok()], { timeout_seconds: 10 })
      expect(rightOf(result).attempts).toBe(2)
      expect(retries).toEqual([{ model: "test-model", attempt: 1, reason: "timeout", delayMs: 500 }])
      expect(times).toEqual([0, 10_500])
    }))

  it.effect("fails with timeout when every attempt hangs", () =>
    Effect.gen(function*() {
      const { result } = yield* runScripted(["hang"], { timeout_seconds: 2, max_retries: 1 })
      const error = leftOf(result)
      expect(error.reason).toBe("timeout")
      expect(error.attempts).toBe(2)
    }))

  it.effect("an attempt is cut where the call's time budget ends, not at its own (longer) timeout", () =>
    Effect.gen(function*() {
      const { result, times } = yield* runScripted(["hang", "hang"], { timeout_seconds: 10, retry_budget_seconds: 12, max_retries: 3 })
      const error = leftOf(result)
      expect([error.reason, error.message, error.attempts]).toEqual(["timeout", "no answer within the call's time budget of 12 s", 2])
      // The first attempt times out at 10 s, the retry starts 500 ms later and is cut at 12 s.
      expect(times).toEqual([0, 10_500])
    }))

  it.effect("computes latency with Clock, tokens from usage and USD from prices", () =>
    Effect.gen(function*() {
      const { result } = yield* runScripted(
        [{ sleepMs: 250, then: ok("answer", { usage: { prompt_tokens: 1000, completion_tokens: 500 } }) }],
        { price_input_per_m: 2, price_output_per_m: 8 }
      )
      const reply = rightOf(result)
      expect(reply).toMatchObject({
        text: "answer",
        model: "test-model",
        inputTokens: 1000,
        outputTokens: 500,
        attempts: 1,
        latencyMs: 250,
        finishReason: "stop"
      })
      expect(reply.usd).toBeCloseTo(0.006, 12)
    }))

  it.effect("estimates tokens as ceil(chars / 4) when usage is missing", () =>
    Effect.gen(function*() {
      const { result } = yield* runScripted([ok("abcde")], { price_input_per_m: 1_000_000, price_output_per_m: 0 })
      const reply = rightOf(result)
      const input = Math.ceil(REQUEST.system.length / 4) + Math.ceil(REQUEST.user.length / 4)
      expect(reply.inputTokens).toBe(input)
      expect(reply.outputTokens).toBe(2)
      expect(reply.usd).toBe(input)
    }))

  it.effect("uses reasoning_content when content is null; finish_reason length keeps the text", () =>
    Effect.gen(function*() {
      const a = yield* runScripted([ok(null, { reasoning: "the answer" })])
      expect(rightOf(a.result).text).toBe("the answer")
      const b = yield* runScripted([ok("half an ans", { finishReason: "length" })])
      expect(rightOf(b.result)).toMatchObject({ text: "half an ans", finishReason: "length" })
      const c = yield* runScripted([ok(null)])
      expect(leftOf(c.result).reason).toBe("empty")
    }))

  it.effect("never leaks the API key into an LlmError, even when the server echoes it", () =>
    Effect.gen(function*() {
      const { result } = yield* runScripted(
        [status(401, {}, { error: { message: `Incorrect API key provided: Bearer ${SECRET}` } })],
        {},
        Option.some(Redacted.make(SECRET))
      )
      const error = leftOf(result)
      expect(error.reason).toBe("bad_request")
      for (const text of [error.message, String(error), JSON.stringify(error), error.stack ?? ""]) {
        expect(text).not.toContain(SECRET)
      }
      expect(error.message).toContain("<redacted>")
    }))
})

// -----------------------------------------------------------------------------
// Over real loopback HTTP against the fake server
// -----------------------------------------------------------------------------

const liveLayer = (server: FakeOpenAiServer, overrides: Partial<LlmConfig> = {}, apiKey = Option.none<Redacted.Redacted>()) =>
  LlmClientLive.layer(config({ base_url: server.url, ...overrides }), apiKey).pipe(
    Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff])
  )

/** Waits on the real clock until `done` holds: for real I/O (a request reaching the fake server, a socket closed), never for a timer. */
const untilIo = (done: () => boolean) =>
  TestServices.provideLive(Effect.sleep("2 millis")).pipe(
    Effect.repeat({ until: done, times: 2_500 }),
    Effect.zipRight(Effect.sync(() => expect(done()).toBe(true)))
  )

/**
 * One call over real loopback HTTP whose retry delays run on the TestClock, deterministically:
 * every retry announces its delay (`onRetry`, just before the retry sleep); once that sleep is
 * registered, the clock moves by exactly that delay. `stall` runs first (a hung request's timeout).
 */
const completeWithRetries = (layer: Layer.Layer<LlmClient>, stall: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    const announced = yield* Queue.unbounded<LlmRetryInfo>()
    const retries: Array<LlmRetryInfo> = []
    const fiber = yield* Effect.gen(function*() {
      const llm = yield* LlmClient
      return yield* llm.complete(REQUEST, (info) => Queue.offer(announced, info))
    }).pipe(Effect.provide(layer), Effect.either, Effect.fork)
    yield* stall
    while (true) {
      const next = yield* Effect.raceFirst(Effect.as(Fiber.await(fiber), undefined), Queue.take(announced))
      if (next === undefined) break
      retries.push(next)
      const due = (yield* Clock.currentTimeMillis) + next.delayMs
      yield* Effect.yieldNow().pipe(
        Effect.zipRight(TestClock.sleeps()),
        Effect.repeat({ until: (sleeps) => Chunk.some(sleeps, (at) => at === due), times: 10_000 })
      )
      yield* TestClock.adjust(next.delayMs)
    }
    return { result: yield* Fiber.join(fiber), retries }
  }).pipe(Effect.withRandomFixed([0.5]))

describe("LlmClientLive over the fake OpenAI server", () => {
  it.scoped("answers with a usable SEARCH/REPLACE diff", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer()
      const { result } = yield* completeWithRetries(liveLayer(server))
      const reply = rightOf(result)
      expect(reply.text).toMatch(/<<<<<<< SEARCH\n(rate = 0\.5|steps = 10)\n=======\n.+\n>>>>>>> REPLACE/)
      expect(reply.inputTokens).toBeGreaterThan(0)
      expect(reply.attempts).toBe(1)
    }))

  it.scoped("retries 500, 503 and a connection reset, then succeeds", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["500", "503", "reset"] } })
      const { result, retries } = yield* completeWithRetries(liveLayer(server))
      expect(rightOf(result).attempts).toBe(4)
      expect(retries.map((r) => [r.reason, r.delayMs])).toEqual([
        ["server", 500],
        ["server", 1000],
        ["connection", 2000]
      ])
      expect(server.requests).toHaveLength(4)
    }))

  it.scoped("times out a hung request, aborts it and retries", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["hang"] } })
      // Once the hung request has reached the server, its 5 s timeout runs out.
      const stall = Effect.zipRight(untilIo(() => server.requests.length === 1), TestClock.adjust("5 seconds"))
      const { result, retries } = yield* completeWithRetries(liveLayer(server, { timeout_seconds: 5 }), stall)
      expect(rightOf(result).attempts).toBe(2)
      expect(retries).toEqual([{ model: "test-model", attempt: 1, reason: "timeout", delayMs: 500 }])
      // the hung request was aborted by the client: nothing stays in flight
      yield* untilIo(() => server.inFlight === 0)
      expect(server.inFlight).toBe(0)
    }))

  it.scoped("tolerates missing usage, content null + reasoning_content and extra fields", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["no-usage", "reasoning-only", "extra-fields", "length"] } })
      const layer = liveLayer(server)
      for (let i = 0; i < 4; i++) {
        const { result } = yield* completeWithRetries(layer)
        const reply = rightOf(result)
        expect(reply.attempts).toBe(1)
        expect(reply.text.length).toBeGreaterThan(0)
        expect(reply.outputTokens).toBeGreaterThan(0)
      }
    }))

  it.scoped("does not retry 400 or malformed JSON", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["400", "malformed"] } })
      const layer = liveLayer(server)
      expect(leftOf((yield* completeWithRetries(layer)).result).reason).toBe("bad_request")
      expect(leftOf((yield* completeWithRetries(layer)).result).reason).toBe("malformed")
      expect(server.requests).toHaveLength(2)
    }))

  it.scoped("sends the key, and never leaks it into errors", () =>
    Effect.gen(function*() {
      const key = Option.some(Redacted.make(SECRET))
      const good = yield* fakeOpenAiServer({ requireApiKey: SECRET })
      expect(rightOf((yield* completeWithRetries(liveLayer(good, {}, key))).result).attempts).toBe(1)

      const wrong = yield* fakeOpenAiServer({ requireApiKey: "another-key" })
      const unauthorized = leftOf((yield* completeWithRetries(liveLayer(wrong, {}, key))).result)
      expect(unauthorized.status).toBe(401)

      const down = yield* fakeOpenAiServer()
      yield* Effect.promise(() => down.close())
      const refused = leftOf((yield* completeWithRetries(liveLayer(down, { max_retries: 1 }, key))).result)
      expect(refused.reason).toBe("connection")
      expect(refused.attempts).toBe(2)

      for (const error of [unauthorized, refused]) {
        for (const text of [error.message, String(error), JSON.stringify(error), error.stack ?? ""]) {
          expect(text).not.toContain(SECRET)
        }
      }
    }))

  it.live("waits between attempts on the real clock (request timestamps)", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["503"] } })
      const reply = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        return yield* llm.complete(REQUEST)
      }).pipe(Effect.provide(liveLayer(server)))
      expect(reply.attempts).toBe(2)
      const [first, second] = server.requests
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(395) // 500 ms × jitter ≥ 0.8
      expect(reply.latencyMs).toBeGreaterThanOrEqual(395)
    }).pipe(Effect.scoped))

  it.live("keeps many requests in flight at once", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ latency: { meanMs: 150, jitterMs: 20 }, seed: 7 })
      const replies = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        return yield* Effect.all(Array.from({ length: 32 }, () => llm.complete(REQUEST)), { concurrency: "unbounded" })
      }).pipe(Effect.provide(liveLayer(server)))
      expect(replies).toHaveLength(32)
      expect(server.inFlightMax).toBe(32)
    }).pipe(Effect.scoped))

  it.effect("the offline provider answers without network", () =>
    Effect.gen(function*() {
      const reply = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        return yield* llm.complete(REQUEST)
      }).pipe(
        Effect.provide(
          LlmClientLive.layer(config({ provider: "offline" }), Option.none()).pipe(
            Layer.provide([
              Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("no network"))),
              LlmClientLive.featuresOff
            ])
          )
        )
      )
      expect(reply.text).toContain("<<<<<<< SEARCH")
      expect(reply.attempts).toBe(1)
      expect(reply.usd).toBe(0)
    }))
})
