import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime, Option, Tracer } from "effect"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import { LlmClient } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import {
  type BatchProgress,
  type BatchResult,
  definesSymbol,
  extractCode,
  llmBatch,
  requireSymbol,
  runBatch
} from "../../src/llm/LlmBatch.js"
import { type FakeOpenAiServer, fakeOpenAiServer, startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const TRADE = "Here you go:\n\n```python\ndef execute_trade(order):\n    return order\n```\n"
const NO_TRADE = "```python\ndef something_else():\n    pass\n```"

/** Answers "<model>:<prompt>" unless the model is "trader" / "lazy". */
const responder = (info: { body: any; user: string }) =>
  info.body.model === "trader" ? TRADE : info.body.model === "lazy" ? NO_TRADE : `${info.body.model}:${info.user}`

const clientFor = (server: FakeOpenAiServer, models: ReadonlyArray<string>, llm: Partial<typeof LlmConfig.Encoded> = {}) =>
  LlmClientLive.layer(
    LlmConfig.make({ provider: "openai-chat", base_url: server.url, models: models.map((model) => ({ model })), ...llm } as never)
  ).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff]))

const texts = (results: ReadonlyArray<BatchResult>) => results.map((r) => (r._tag === "Success" ? r.text : `!${r.reason}`))

describe("validators", () => {
  it("definesSymbol recognises common definitions", () => {
    for (const code of [
      "def execute_trade(x):\n  pass",
      "async def execute_trade(x): ...",
      "function execute_trade(order) {}",
      "export async function execute_trade(o) {}",
      "const execute_trade = (o) => o",
      "execute_trade = lambda o: o",
      "class execute_trade:\n  pass",
      "fn execute_trade(o: Order) -> Result {}",
      "func execute_trade(o Order) error {",
      "int execute_trade(Order* o) {"
    ]) expect(definesSymbol(code, "execute_trade"), code).toBe(true)
    for (const code of ["execute_trade(order)", "# execute_trade is not defined", "if execute_trade == 1:", "def execute_trades(x): pass"]) {
      expect(definesSymbol(code, "execute_trade"), code).toBe(false)
    }
  })

  it("extractCode takes the longest fenced block", () => {
    expect(extractCode("a\n```js\nx\n```\n```py\nlonger\n```")).toEqual({ code: "longer", language: "py" })
    expect(extractCode("plain")).toEqual({ code: "plain", language: "" })
  })
})

describe("runBatch (Effect form) over the fake server", () => {
  it.live("keeps input order across models with different latencies; partial failure stays per item", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({
        responder,
        modelLatency: { slow: 150, fast: 5 },
        modelFaults: { broken: { mix: { "400": 1 } } }
      })
      const results = yield* runBatch([
        { prompt: "p0", model: "slow" },
        { prompt: "p1", model: "fast" },
        { prompt: "p2", model: "broken", id: "the-broken-one" },
        { prompt: "p3", model: "slow" },
        "p4",
        { prompt: "p5", model: "fast" }
      ]).pipe(Effect.provide(clientFor(server, ["slow", "fast", "broken"], { selection: "weighted", models: [{ model: "fast" }, { model: "slow" }, { model: "broken", weight: 0 }] })))
      expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5])
      expect(texts(results)).toEqual(["slow:p0", "fast:p1", "!bad_request", "slow:p3", expect.stringMatching(/^(fast|slow):p4$/), "fast:p5"])
      const broken = results[2]!
      expect(broken).toMatchObject({ _tag: "Failure", id: "the-broken-one", model: "broken", attempts: 1 })
    }).pipe(Effect.scoped))

  it.live("the overall deadline returns unfinished items as timed out; the per-request timeout too", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder, modelLatency: { slow: 5_000 }, modelFaults: { hung: { mix: { hang: 1 } } } })
      const layer = clientFor(server, ["fast", "slow", "hung"])
      const t0 = performance.now()
      const results = yield* runBatch(
        [
          { prompt: "a", model: "fast" },
          { prompt: "b", model: "slow" },
          { prompt: "c", model: "hung", timeout: "150 millis" },
          { prompt: "d", model: "fast" }
        ],
        { deadline: "1500 millis", concurrency: 2 }
      ).pipe(Effect.provide(layer))
      const elapsed = performance.now() - t0
      expect(texts(results)).toEqual(["fast:a", "!deadline", "!timeout", "fast:d"])
      expect(elapsed).toBeGreaterThanOrEqual(1_490)
      expect(elapsed).toBeLessThan(3_500)
    }).pipe(Effect.scoped))

  it.live("a reply failing its validator is invalid_output and is not retried; progress events are reported", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder })
      const events: Array<BatchProgress> = []
      const results = yield* runBatch(
        [{ prompt: "trade!", model: "trader" }, { prompt: "trade!", model: "lazy" }],
        { validate: requireSymbol("execute_trade"), onProgress: (e) => void events.push(e), previewChars: 8 }
      ).pipe(Effect.provide(clientFor(server, ["trader", "lazy"])))
      expect(results[0]).toMatchObject({ _tag: "Success", model: "trader" })
      expect(results[1]).toMatchObject({ _tag: "Failure", reason: "invalid_output", model: "lazy", attempts: 1 })
      expect(results[1]!._tag === "Failure" && results[1]!.reply?.text).toBe(NO_TRADE)
      expect(server.requests.filter((r) => r.body.model === "lazy")).toHaveLength(1)
      const tags = (i: number) => events.filter((e) => e.index === i).map((e) => e._tag)
      expect(tags(0)).toEqual(["Started", "Preview", "Succeeded"])
      expect(tags(1)).toEqual(["Started", "Preview", "Failed"])
      expect(events.find((e) => e._tag === "Preview" && e.index === 0)).toMatchObject({ text: "Here you" })
    }).pipe(Effect.scoped))

  it.live("allModels sends every prompt to every model, request-major", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder })
      const results = yield* runBatch(["x", "y"], { allModels: true }).pipe(Effect.provide(clientFor(server, ["m1", "m2", "m3"])))
      expect(texts(results)).toEqual(["m1:x", "m2:x", "m3:x", "m1:y", "m2:y", "m3:y"])
    }).pipe(Effect.scoped))

  it.live("global and per-model concurrency bound the requests in flight", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder, latency: 60 })
      yield* runBatch(Array.from({ length: 12 }, (_, i) => ({ prompt: `${i}`, model: "m1" })), { concurrency: 10, perModelConcurrency: 3 })
        .pipe(Effect.provide(clientFor(server, ["m1"])))
      expect(server.inFlightMax).toBe(3)
      server.reset()
      yield* runBatch(Array.from({ length: 12 }, (_, i) => `${i}`), { concurrency: 5 }).pipe(Effect.provide(clientFor(server, ["m1"])))
      expect(server.inFlightMax).toBe(5)
    }).pipe(Effect.scoped))

  it.live("nested: a validator calling llmBatch (Promise form) reuses the client, and the span parent is kept", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder })
      const spans: Array<Tracer.Span> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (...args) => {
          const s = native.span(...args)
          spans.push(s)
          return s
        },
        context: native.context
      })
      const inner: Array<ReadonlyArray<BatchResult>> = []
      const results = yield* runBatch(["outer"], {
        validate: async (text) => {
          // An LLM judge inside the validator: another batch on the same client.
          const judged = await llmBatch([`judge ${text}`, `again ${text}`])
          inner.push(judged)
          return judged.every((r) => r._tag === "Success")
        }
      }).pipe(Effect.provide(clientFor(server, ["m1"])), Effect.withSpan("root"), Effect.withTracer(tracer))
      expect(texts(results)).toEqual(["m1:outer"])
      expect(texts(inner[0]!)).toEqual(["m1:judge m1:outer", "m1:again m1:outer"])
      const outerItem = spans.find((s) => s.name === "llmBatch.item")!
      const innerBatch = spans.filter((s) => s.name === "llmBatch")[1]!
      expect(Option.getOrUndefined(innerBatch.parent)?.spanId).toBe(outerItem.spanId)
      expect(innerBatch.traceId).toBe(outerItem.traceId)
    }).pipe(Effect.scoped))
})

describe("llmBatch (Promise form)", () => {
  it("builds its own runtime from options and disposes it", async () => {
    const server = await startFakeOpenAiServer({ responder })
    try {
      const results = await llmBatch(["hello", { prompt: "bye", model: "m2" }], {
        baseUrl: server.url,
        models: ["m1"],
        apiKey: "sk-test",
        llm: { selection: "weighted" }
      })
      expect(texts(results)).toEqual(["m1:hello", "m2:bye"])
      expect(server.requests.every((r) => r.headers.authorization === "Bearer sk-test")).toBe(true)
    } finally {
      await server.close()
    }
  })

  it("rejects only on invalid options", async () => {
    await expect(llmBatch(["x"], { llm: { temperature: 7 } })).rejects.toThrow(/invalid options/)
  })

  it.live("inside a running Effect it joins the calling fiber's LlmClient (no new runtime) and its span", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder })
      const results = yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        const before = (yield* llm.status)[0]!.calls
        const r = yield* Effect.promise(() => llmBatch(["from effect"]))
        expect((yield* llm.status)[0]!.calls).toBe(before + 1)
        return r
      }).pipe(Effect.provide(clientFor(server, ["m1"])))
      expect(texts(results)).toEqual(["m1:from effect"])
    }).pipe(Effect.scoped))

  it.live("inside a running Effect its spans go to the caller's tracer, under the caller's span", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ responder })
      const spans: Array<Tracer.Span> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (...args) => {
          const s = native.span(...args)
          spans.push(s)
          return s
        },
        context: native.context
      })
      const results = yield* Effect.promise(() => llmBatch(["from a callback"])).pipe(
        Effect.withSpan("caller"),
        Effect.provide(clientFor(server, ["m1"])),
        Effect.withTracer(tracer)
      )
      expect(texts(results)).toEqual(["m1:from a callback"])
      const caller = spans.find((s) => s.name === "caller")!
      const batch = spans.find((s) => s.name === "llmBatch")!
      expect(Option.getOrUndefined(batch.parent)?.spanId).toBe(caller.spanId)
      expect(spans.some((s) => s.name === "LlmClient.complete")).toBe(true)
    }).pipe(Effect.scoped))

  it("runs on a given ManagedRuntime, and from an evaluator-style async callback", async () => {
    const server = await startFakeOpenAiServer({ responder })
    const runtime = ManagedRuntime.make(clientFor(server, ["m1", "m2"]))
    try {
      const evaluate = async (code: string) => {
        const [r] = await llmBatch([`score ${code}`], { runtime })
        return r!._tag === "Success" ? r!.text.length : -1
      }
      const scores = await Promise.all(["a", "bb", "ccc"].map(evaluate))
      expect(scores.every((s) => s > 0)).toBe(true)
    } finally {
      await runtime.dispose()
      await server.close()
    }
  })

  it("an AbortSignal interrupts the batch", async () => {
    const server = await startFakeOpenAiServer({ responder, latency: 5_000 })
    try {
      const controller = new AbortController()
      const pending = llmBatch(["slow"], { baseUrl: server.url, models: ["m1"], signal: controller.signal })
      setTimeout(() => controller.abort(), 100)
      await expect(pending).rejects.toBeDefined()
    } finally {
      await server.close()
    }
  })
})
