import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as LlmCacheStore from "../../src/db/LlmCacheStore.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import * as Db from "../../src/db/ProgramDatabase.js"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import { LlmCache } from "../../src/llm/LlmCache.js"
import { LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import { LlmRecorder, ReplayLog } from "../../src/llm/Replay.js"
import { type FakeOpenAiServer, fakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { allStores } from "../support/database.js"

const REQUEST: LlmRequest = { system: "sys", user: "Improve:\n```python\nx = 1.5\n```\n" }

const client = (server: FakeOpenAiServer, cache: Layer.Layer<LlmCache>, llm: Partial<typeof LlmConfig.Encoded> = {}) =>
  LlmClientLive.layer(LlmConfig.make({ provider: "openai-chat", model: "m", base_url: server.url, ...llm } as never)).pipe(
    Layer.provide([NodeHttp.layer, cache, LlmRecorder.none, ReplayLog.none])
  )

/** The SQL store over the connection of the program database in `file` (as a run has it). */
const sqlite = (file: string) => Layer.effect(LlmCache, LlmCacheStore.make()).pipe(Layer.provide(Db.layer(file)), Layer.orDie)

const twice = (request: LlmRequest = REQUEST) =>
  Effect.flatMap(LlmClient, (llm) => Effect.all([llm.complete(request), llm.complete(request)]))

describe("temperature-0 cache", () => {
  it.live("answers an identical request at temperature 0 from the cache", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 2 })
      const [a, b] = yield* twice().pipe(Effect.provide(client(server, LlmCache.memory, { temperature: 0, price_output_per_m: 10 })))
      expect(server.requests).toHaveLength(1)
      expect(b).toMatchObject({ text: a.text, cached: true, usd: 0, attempts: 0, inputTokens: a.inputTokens })
      expect(a.cached).toBeUndefined()
      expect(a.usd).toBeGreaterThan(0)
    }).pipe(Effect.scoped))

  it.live("misses at temperature > 0, for other params, and when llm.cache is off", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer()
      yield* twice().pipe(Effect.provide(client(server, LlmCache.memory, { temperature: 0.7 })))
      expect(server.requests).toHaveLength(2)
      yield* twice().pipe(Effect.provide(client(server, LlmCache.memory, { temperature: 0, cache: false })))
      expect(server.requests).toHaveLength(4)
      // a per-request temperature of 0 on a 0.7 model is cached; a different max_tokens is another key
      const layer = client(server, LlmCache.memory, { temperature: 0.7 })
      yield* Effect.gen(function*() {
        const llm = yield* LlmClient
        yield* llm.complete({ ...REQUEST, temperature: 0 })
        yield* llm.complete({ ...REQUEST, temperature: 0 })
        yield* llm.complete({ ...REQUEST, temperature: 0, maxTokens: 10 })
      }).pipe(Effect.provide(layer))
      expect(server.requests).toHaveLength(6)
    }).pipe(Effect.scoped))

  it.scoped("persists in the run's SQLite file (migration 0003) across clients", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/evolve.db`
      // The program database migrates the file (llm_cache included)…
      yield* Effect.provide(Effect.flatMap(allStores, (db) => db.listRuns), Db.layer(file))
      const server = yield* fakeOpenAiServer()
      const first = yield* Effect.flatMap(LlmClient, (l) => l.complete(REQUEST)).pipe(
        Effect.provide(client(server, sqlite(file), { temperature: 0 }))
      )
      const second = yield* Effect.flatMap(LlmClient, (l) => l.complete(REQUEST)).pipe(
        Effect.provide(client(server, sqlite(file), { temperature: 0 }))
      )
      expect(server.requests).toHaveLength(1)
      expect(second).toMatchObject({ text: first.text, cached: true })
    }).pipe(Effect.provide(NodeContext.layer)))
})
