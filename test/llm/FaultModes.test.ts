import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, List, Logger, LogLevel, Option, Queue, Redacted, Tracer } from "effect"
import * as LlmCacheStore from "../../src/db/LlmCacheStore.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import * as Db from "../../src/db/ProgramDatabase.js"
import { LlmConfig, type RunConfig } from "../../src/domain/RunConfig.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import { LlmCache } from "../../src/llm/LlmCache.js"
import { LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import * as Replay from "../../src/llm/Replay.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { type FaultMode, fakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { specWith } from "../support/runFixtures.js"
import { runDefaults, startLocal } from "../support/engine.js"

const REQUEST: LlmRequest = { system: "You evolve programs.", user: "Improve:\n```python\nx = 1.5\ny = 2\n```\n" }

type Expectation =
  | { readonly ok: true; readonly attempts: number }
  | { readonly ok: false; readonly reason: string; readonly attempts: number }

/** Each fault once, then "ok"; max_retries 1 (so "retried" = success on attempt 2). */
const table: ReadonlyArray<readonly [FaultMode, Expectation]> = [
  ["ok", { ok: true, attempts: 1 }],
  ["429", { ok: true, attempts: 2 }],
  ["429-retry-after:1", { ok: true, attempts: 2 }],
  ["429-retry-after-ms:120", { ok: true, attempts: 2 }],
  ["429-retry-after-date:1", { ok: true, attempts: 2 }],
  ["408", { ok: true, attempts: 2 }],
  ["409", { ok: true, attempts: 2 }],
  ["500", { ok: true, attempts: 2 }],
  ["502", { ok: true, attempts: 2 }],
  ["503", { ok: true, attempts: 2 }],
  ["504", { ok: true, attempts: 2 }],
  ["hang", { ok: true, attempts: 2 }],
  ["reset", { ok: true, attempts: 2 }],
  ["error-200", { ok: true, attempts: 2 }],
  ["400", { ok: false, reason: "bad_request", attempts: 1 }],
  ["401", { ok: false, reason: "bad_request", attempts: 1 }],
  ["404", { ok: false, reason: "bad_request", attempts: 1 }],
  ["malformed", { ok: false, reason: "malformed", attempts: 1 }],
  ["empty-choices", { ok: false, reason: "empty", attempts: 1 }],
  ["no-usage", { ok: true, attempts: 1 }],
  ["reasoning-only", { ok: true, attempts: 1 }],
  ["length", { ok: true, attempts: 1 }],
  ["extra-fields", { ok: true, attempts: 1 }]
]

describe("every fault mode over loopback HTTP", () => {
  it.live("retries exactly the retryable ones, honours hints, and sends as many requests as attempts", () =>
    Effect.gen(function*() {
      const outcomes = yield* Effect.forEach(table, ([mode, expected]) =>
        Effect.gen(function*() {
          const server = yield* fakeOpenAiServer({ faults: { sequence: [mode] } })
          const started = performance.now()
          const r = yield* Effect.flatMap(LlmClient, (l) => Effect.either(l.complete(REQUEST))).pipe(
            Effect.provide(
              LlmClientLive.layer(LlmConfig.make({
                provider: "openai-chat",
                model: "m",
                base_url: server.url,
                max_retries: 1,
                timeout_seconds: 1
              })).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff]))
            ),
            Effect.withRandomFixed([0]) // backoff × 0.8: the first retry waits 400 ms
          )
          const elapsed = performance.now() - started
          const got: Expectation = Either.isRight(r)
            ? { ok: true, attempts: r.right.attempts }
            : { ok: false, reason: r.left.reason, attempts: r.left.attempts ?? -1 }
          return { mode, expected, got, requests: server.requests.length, elapsed }
        }), { concurrency: "unbounded" })
      for (const o of outcomes) {
        expect({ mode: o.mode, ...o.got }).toEqual({ mode: o.mode, ...o.expected })
        expect(o.requests, o.mode).toBe(o.got.attempts)
      }
      const waited = (mode: string) => outcomes.find((o) => o.mode === mode)!.elapsed
      expect(waited("429-retry-after:1")).toBeGreaterThanOrEqual(990)
      expect(waited("429")).toBeGreaterThanOrEqual(395)
      expect(waited("hang")).toBeGreaterThanOrEqual(1390) // 1 s timeout + 400 ms backoff
    }).pipe(Effect.scoped))
})

describe("the API key never leaks", () => {
  const SECRET = "sk-proj-NEVER-LEAK-abcdef0123456789"

  it.live("not into errors, logs, spans, recordings, the cache, the run database or run events", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const dbFile = `${dir}/evolve.db`
      const recordFile = `${dir}/calls.jsonl`
      // The server wants the key, fails a quarter of the calls (some with 401 echoing the key).
      const server = yield* fakeOpenAiServer({
        seed: 4,
        requireApiKey: SECRET,
        faults: { mix: { "500": 0.15, "reset": 0.1 } }
      })
      const logs: Array<string> = []
      const logger = Logger.make(({ annotations, cause, message, spans }) => {
        logs.push(JSON.stringify({ message, cause: String(cause), annotations: [...annotations], spans: List.toArray(spans) }))
      })
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
      const llmConfig = { provider: "openai-chat" as const, model: "m", base_url: server.url, temperature: 0, max_retries: 2 }
      const llm = LlmClientLive.layer(LlmConfig.make(llmConfig), Option.some(Redacted.make(SECRET))).pipe(
        Layer.provide(Layer.mergeAll(
          NodeHttp.layer,
          Layer.effect(LlmCache, LlmCacheStore.make()).pipe(Layer.provide(Db.layer(dbFile))),
          Replay.recorderLayer(recordFile).pipe(Layer.provide(NodeContext.layer), Layer.orDie),
          Replay.ReplayLog.none
        ))
      )
      const config: Partial<typeof RunConfig.Encoded> = {
        max_evaluations: 10,
        concurrency: { proposals: 2, evaluations: 2 },
        llm: LlmConfig.make(llmConfig),
        database: { path: dbFile }
      }
      const evaluator = Layer.succeed(Evaluator, {
        evaluate: (r) => Effect.succeed({ _tag: "Scored", metrics: { score: r.code.length }, score: r.code.length, feedback: null, durationMs: 1 } as const)
      })
      const events = yield* Effect.gen(function*() {
        const handle = yield* startLocal({ _tag: "New", spec: specWith(config), initialCode: "x = 1.5\ny = 2\n" })
        const q = yield* handle.subscribe
        yield* handle.await
        return JSON.stringify([...(yield* Queue.takeAll(q))])
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(
          runDefaults,
          Proposer.layer({ goal: "g", language: "python", editFormat: "diff", maxCodeBytes: 10_000 }).pipe(
            Layer.provide(EmbeddingClient.offline),
            Layer.provideMerge(llm)
          ),
          evaluator,
          Db.layer(dbFile)
        )),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All),
        Effect.withTracer(tracer)
      )
      // Direct calls: one with a wrong key, one refused connection.
      const wrong = yield* Effect.flatMap(LlmClient, (l) => Effect.either(l.complete(REQUEST))).pipe(
        Effect.provide(LlmClientLive.layer(LlmConfig.make({ ...llmConfig, model: "other" }), Option.some(Redacted.make(`${SECRET}x`))).pipe(
          Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff])
        ))
      )
      expect(Either.isLeft(wrong)).toBe(true)

      const files = [dbFile, `${dbFile}-wal`, recordFile]
      const contents: Array<string> = []
      for (const f of files) {
        if (yield* fs.exists(f)) contents.push(Buffer.from(yield* fs.readFile(f)).toString("latin1"))
      }
      const spanText = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: [...s.attributes], status: String(s.status._tag) })))
      const haystacks = {
        events,
        logs: logs.join("\n"),
        spans: spanText,
        files: contents.join("\n"),
        error: JSON.stringify(Either.isLeft(wrong) ? { ...wrong.left, message: wrong.left.message, s: String(wrong.left) } : null)
      }
      expect(events).toContain("LlmCallDone")
      expect(contents.join("").length).toBeGreaterThan(1000)
      for (const [where, text] of Object.entries(haystacks)) {
        expect(text.includes(SECRET), where).toBe(false)
        expect(text.includes(SECRET.slice(0, 20)), where).toBe(false)
      }
    }).pipe(Effect.provide(NodeContext.layer), Effect.scoped))
})
