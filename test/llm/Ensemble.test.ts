import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, Layer, Ref, TestClock } from "effect"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import { LlmCallError, LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import { type FakeOpenAiServer, fakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const PROGRAM = "rate = 0.5\nsteps = 10\nprint(rate * steps)"
const REQUEST: LlmRequest = { system: "You evolve programs.", user: `Improve.\n\n\`\`\`python\n${PROGRAM}\n\`\`\`\n` }

const live = (server: FakeOpenAiServer, llm: Partial<typeof LlmConfig.Encoded>) =>
  LlmClientLive.layer(LlmConfig.make({ provider: "openai-chat", base_url: server.url, ...llm } as never)).pipe(
    Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff])
  )

/** A scripted HttpClient answering `ok` after `status` codes given in order (then ok). */
const scripted = (statuses: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const times = yield* Ref.make<Array<{ at: number; body: any }>>([])
    const client = HttpClient.make((request) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const body = request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : null
        const n = (yield* Ref.getAndUpdate(times, (t) => [...t, { at, body }])).length
        const status = statuses[n] ?? 200
        const payload = status === 200
          ? { choices: [{ message: { content: "answer" }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 2 } }
          : { error: { message: "nope" } }
        return HttpClientResponse.fromWeb(request, new Response(JSON.stringify(payload), { status }))
      })
    )
    return { client, times }
  })

const withScripted = (statuses: ReadonlyArray<number>, llm: Partial<typeof LlmConfig.Encoded>) =>
  Effect.gen(function*() {
    const { client, times } = yield* scripted(statuses)
    const layer = LlmClientLive.layer(
      LlmConfig.make({ provider: "openai-chat", base_url: "http://x/v1", model: "m", ...llm } as never)
    ).pipe(Layer.provide([Layer.succeed(HttpClient.HttpClient, client), LlmClientLive.featuresOff]))
    return { layer, times }
  })

describe("resilience over the client (TestClock)", () => {
  it.effect("the overall time budget stops retries before the next attempt would start past it", () =>
    Effect.gen(function*() {
      const { layer, times } = yield* withScripted(Array(20).fill(503), { max_retries: 10, retry_budget_seconds: 3 })
      const fiber = yield* Effect.fork(Effect.either(Effect.provide(Effect.flatMap(LlmClient, (l) => l.complete(REQUEST)), layer)))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      expect(Either.isLeft(result) && result.left.reason).toBe("server")
      expect((yield* Ref.get(times)).map((t) => t.at)).toEqual([0, 500, 1500]) // the next would start at 3500
    }).pipe(Effect.withRandomFixed([0.5])))

  it.scoped("requests_per_minute spaces calls with a token bucket", () =>
    Effect.gen(function*() {
      const { layer, times } = yield* withScripted([], { requests_per_minute: 2 })
      const fiber = yield* Effect.fork(Effect.provide(
        Effect.flatMap(LlmClient, (l) => Effect.all(Array.from({ length: 4 }, () => l.complete(REQUEST)), { concurrency: "unbounded" })),
        layer
      ))
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(fiber)
      expect((yield* Ref.get(times)).map((t) => t.at)).toEqual([0, 0, 30_000, 60_000])
    }))

  it.effect("per-call temperature / max tokens overrides and extra_body reach the request body", () =>
    Effect.gen(function*() {
      const { layer, times } = yield* withScripted([], { extra_body: { top_p: 0.9, seed: 3 }, temperature: 0.7 })
      yield* Effect.provide(
        Effect.flatMap(LlmClient, (l) => l.complete({ ...REQUEST, temperature: 0, maxTokens: 77 })),
        layer
      )
      const body = (yield* Ref.get(times))[0]!.body
      expect(body).toMatchObject({ model: "m", temperature: 0, max_tokens: 77, top_p: 0.9, seed: 3, stream: false })
    }))

  it.effect("a failed call carries its accounting (model, latency, attempts)", () =>
    Effect.gen(function*() {
      const { layer } = yield* withScripted([503, 503, 400], { max_retries: 5 })
      const fiber = yield* Effect.fork(Effect.either(Effect.provide(Effect.flatMap(LlmClient, (l) => l.complete(REQUEST)), layer)))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      if (Either.isRight(result)) throw new Error("expected a failure")
      const error = result.left
      expect(error).toBeInstanceOf(LlmCallError)
      expect(error._tag).toBe("LlmError")
      expect(error).toMatchObject({ reason: "bad_request", model: "m", attempts: 3, latencyMs: 1500, usd: 0 })
    }).pipe(Effect.withRandomFixed([0.5])))
})

describe("AIMD and circuit breaker over loopback HTTP", () => {
  it.live("a burst of 429s halves the model's concurrency; retries then stay under the new limit", () =>
    Effect.gen(function*() {
      let server: FakeOpenAiServer | undefined
      server = yield* fakeOpenAiServer({
        latency: 40,
        faults: { sequence: Array(8).fill("429-retry-after-ms:150") },
        responder: (info) => {
          if (info.index === 8) server!.reset() // measure in-flight from the first retry on
          return "<<<<<<< SEARCH\nrate = 0.5\n=======\nrate = 0.6\n>>>>>>> REPLACE"
        }
      })
      const results = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        const replies = yield* Effect.all(Array.from({ length: 8 }, () => llm.complete(REQUEST)), { concurrency: "unbounded" })
        return { replies, status: yield* llm.status }
      }).pipe(Effect.provide(live(server, { max_concurrency: 8 })))
      expect(results.replies.every((r) => r.attempts === 2)).toBe(true)
      // Halved to 4; the 8 successful retries then add one (a round of 4 successes per step).
      expect(results.status[0]).toMatchObject({ limit: 5, maxConcurrency: 8, breaker: "closed" })
      expect(server.inFlightMax).toBeLessThanOrEqual(4)
    }).pipe(Effect.scoped))

  // Real HTTP to the fake server; the breaker's cool-down runs on the TestClock.
  it.scoped("an open breaker sends calls to the other models; when all are open calls fail fast", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ modelFaults: { a: { mix: { "500": 1 } } } })
      const layer = live(server, {
        max_retries: 0,
        breaker_failures: 2,
        breaker_cooldown_seconds: 0.4,
        models: [{ model: "a", weight: 1000 }, { model: "b", weight: 1 }]
      })
      yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        const outcomes: Array<string> = []
        for (let i = 0; i < 12; i++) {
          const r = yield* Effect.either(llm.complete(REQUEST))
          outcomes.push(Either.isRight(r) ? `ok:${r.right.model}` : `${r.left.reason}`)
        }
        // a fails twice (weight 1000), its breaker opens, then everything goes to b
        expect(outcomes.filter((o) => o === "server")).toHaveLength(2)
        expect(outcomes.slice(-9).every((o) => o === "ok:b")).toBe(true)
        expect((yield* llm.status).map((s) => [s.name, s.breaker])).toEqual([["a", "open"], ["b", "closed"]])

        // pinned to a while open: fails fast, no request sent
        const before = server.requests.length
        const pinned = yield* Effect.either(llm.complete({ ...REQUEST, model: "a" }))
        expect(Either.isLeft(pinned) && pinned.left.reason).toBe("circuit_open")
        expect(Either.isLeft(pinned) && (pinned.left.retryAfterMs ?? 0) > 0).toBe(true)
        expect(server.requests.length).toBe(before)

        // after the cool-down, one probe: still failing → open again
        yield* TestClock.adjust("450 millis")
        const probe = yield* Effect.either(llm.complete({ ...REQUEST, model: "a" }))
        expect(Either.isLeft(probe) && probe.left.reason).toBe("server")
        expect((yield* llm.status)[0]!.breaker).toBe("open")

        // healed: the next probe closes it
        server.setFaults(undefined, "a")
        yield* TestClock.adjust("450 millis")
        const healed = yield* llm.complete({ ...REQUEST, model: "a" })
        expect(healed.model).toBe("a")
        expect((yield* llm.status)[0]!.breaker).toBe("closed")
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped))

  it.live("all models open: fail fast with circuit_open", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { mix: { "503": 1 } } })
      const layer = live(server, {
        max_retries: 0,
        breaker_failures: 1,
        breaker_cooldown_seconds: 60,
        models: [{ model: "a" }, { model: "b" }]
      })
      yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        yield* Effect.either(llm.complete({ ...REQUEST, model: "a" }))
        yield* Effect.either(llm.complete({ ...REQUEST, model: "b" }))
        const sent = server.requests.length
        const r = yield* Effect.either(llm.complete(REQUEST))
        if (Either.isRight(r)) throw new Error("expected circuit_open")
        expect(r.left.reason).toBe("circuit_open")
        expect(r.left.attempts).toBe(0)
        expect(r.left.retryAfterMs).toBeGreaterThan(55_000)
        expect(r.left.message).toContain("every model")
        expect(server.requests.length).toBe(sent)
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped))

  it.live("a run-like load under 30% injected faults: every call accounted for, none lost", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({
        seed: 11,
        latency: { meanMs: 5, jitterMs: 4 },
        faults: { mix: { "500": 0.1, "503": 0.05, "429-retry-after-ms:10": 0.1, "reset": 0.05 } }
      })
      const results = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        return yield* Effect.all(Array.from({ length: 40 }, () => Effect.either(llm.complete(REQUEST))), { concurrency: 8 })
      }).pipe(Effect.provide(live(server, { max_retries: 6 })), Effect.withRandomFixed([0]))
      expect(results).toHaveLength(40)
      const ok = results.filter(Either.isRight)
      expect(ok.length).toBeGreaterThanOrEqual(39)
      const attempts = results.reduce((n, r) => n + (Either.isRight(r) ? r.right.attempts : (r.left.attempts ?? 0)), 0)
      expect(attempts).toBe(server.requests.length)
    }).pipe(Effect.scoped))
})
