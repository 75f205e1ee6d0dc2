import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted } from "effect"
import { EmbeddingConfig, LlmConfig } from "../../src/domain/RunConfig.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import * as Embeddings from "../../src/llm/Embeddings.js"
import { LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import { type FakeOpenAiServer, fakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const SECRET = "sk-responses-SECRET-0123456789"
const REQUEST: LlmRequest = { system: "You evolve programs.", user: "Improve:\n```python\nx = 1.5\ny = 2\n```\n" }

const responses = (server: FakeOpenAiServer, llm: Partial<typeof LlmConfig.Encoded> = {}, key?: string) =>
  LlmClientLive.layer(
    LlmConfig.make({ provider: "openai-responses", model: "gpt-test", base_url: server.url, ...llm } as never),
    key === undefined ? Option.none() : Option.some(Redacted.make(key))
  ).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff]))

const complete = (request: LlmRequest = REQUEST) => Effect.flatMap(LlmClient, (l) => Effect.either(l.complete(request)))

describe("openai-responses provider (@effect/ai-openai OpenAiLanguageModel) over loopback", () => {
  it.live("answers through POST /responses with usage, sending the key as a bearer token", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ requireApiKey: SECRET })
      const r = yield* complete().pipe(Effect.provide(responses(server, { temperature: 0.2, max_tokens: 321 }, SECRET)))
      const reply = Either.getOrThrow(r)
      expect(reply.text).toContain("<<<<<<< SEARCH")
      expect(reply).toMatchObject({ model: "gpt-test", attempts: 1 })
      expect(reply.inputTokens).toBeGreaterThan(0)
      expect(server.requests[0]).toMatchObject({ api: "responses" })
      expect(server.requests[0]!.body).toMatchObject({ model: "gpt-test", temperature: 0.2, max_output_tokens: 321 })
    }).pipe(Effect.scoped))

  it.live("uses our retry loop only: 429 and 503 are retried once each, 400 is not", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ faults: { sequence: ["429-retry-after-ms:50", "503", "ok", "400"] } })
      const layer = responses(server)
      const first = yield* complete().pipe(Effect.provide(layer), Effect.withRandomFixed([0]))
      expect(Either.getOrThrow(first).attempts).toBe(3)
      const second = yield* complete().pipe(Effect.provide(layer))
      expect(Either.isLeft(second) && [second.left.reason, second.left.status, second.left.attempts]).toEqual(["bad_request", 400, 1])
      expect(server.requests).toHaveLength(4)
    }).pipe(Effect.scoped))

  it.live("never leaks the key into errors", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ requireApiKey: "another" })
      const r = yield* complete().pipe(Effect.provide(responses(server, {}, SECRET)))
      if (Either.isRight(r)) throw new Error("expected 401")
      expect(r.left.status).toBe(401)
      for (const text of [r.left.message, String(r.left), JSON.stringify(r.left), r.left.stack ?? ""]) {
        expect(text).not.toContain(SECRET)
      }
    }).pipe(Effect.scoped))
})

describe("embeddings", () => {
  it.live("POST /embeddings returns one vector per text, in order; similar texts are closer", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ embeddingDimensions: 32, requireApiKey: SECRET })
      const client = yield* Embeddings.makeHttp({
        baseUrl: server.url,
        model: "emb",
        apiKey: Option.some(Redacted.make(SECRET)),
        timeoutMs: 5_000,
        maxRetries: 2,
        pricePerM: 0.02
      })
      const texts = ["def f(x): return x * 2", "def f(x): return x * 3", "completely different prose about cats"]
      const result = yield* client.embed(texts)
      expect(result.vectors).toHaveLength(3)
      expect(result.vectors[0]).toHaveLength(32)
      expect(Embeddings.cosineSimilarity(result.vectors[0]!, result.vectors[1]!)).toBeGreaterThan(
        Embeddings.cosineSimilarity(result.vectors[0]!, result.vectors[2]!)
      )
      expect(result.usd).toBeGreaterThan(0)
      expect(server.embeddingRequests[0]).toMatchObject({ model: "emb", input: texts })
    }).pipe(Effect.scoped, Effect.provide(NodeHttp.layer)))

  it.live("the embedding layer follows llm.embedding, falling back to the chat base URL and key", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ requireApiKey: SECRET })
      const config = LlmConfig.make({ provider: "openai-chat", base_url: server.url, embedding: EmbeddingConfig.make({ model: "e2" }) })
      const r = yield* Effect.flatMap(Embeddings.EmbeddingClient, (e) => e.embed(["a b c"])).pipe(
        Effect.provide(Embeddings.layer(config, Option.some(Redacted.make(SECRET))).pipe(Layer.provide(NodeHttp.layer)))
      )
      expect(r.vectors).toHaveLength(1)
      expect(server.embeddingRequests[0]).toMatchObject({ model: "e2" })
    }).pipe(Effect.scoped))

  it.effect("offline embeddings are deterministic, normalised and need no network", () =>
    Effect.gen(function*() {
      const offline = Embeddings.makeOffline(64)
      const a = yield* offline.embed(["x = 1", "x = 1", "y = 2"])
      expect(a.vectors[0]).toEqual(a.vectors[1])
      expect(Math.hypot(...a.vectors[0]!)).toBeCloseTo(1, 9)
      expect(Embeddings.cosineSimilarity(a.vectors[0]!, a.vectors[0]!)).toBeCloseTo(1, 9)
    }))
})
