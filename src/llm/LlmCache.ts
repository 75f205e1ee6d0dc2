/**
 * The temperature-0 LLM response cache, as the client sees it: answers keyed by a hash of
 * every input that shapes them (`cacheKey`). A cache problem never fails a call: a store
 * reports read and write errors as misses. The SQL store is `src/db/LlmCacheStore.ts`; here
 * are the in-process and the switched-off caches.
 */
import { createHash } from "node:crypto"
import { Context, Effect, Layer, Option } from "effect"
import type { CachedReply } from "../domain/CachedReply.js"
import type { LlmRequest } from "./LlmClient.js"
import type { ModelSpec } from "./Models.js"

export type { CachedReply } from "../domain/CachedReply.js"

export class LlmCache extends Context.Tag("evolve/LlmCache")<LlmCache, {
  readonly get: (key: string) => Effect.Effect<Option.Option<CachedReply>>
  readonly put: (key: string, model: string, reply: CachedReply) => Effect.Effect<void>
}>() {
  /** No cache: every lookup misses, nothing is kept. */
  static readonly disabled: Layer.Layer<LlmCache> = Layer.succeed(LlmCache, {
    get: () => Effect.succeedNone,
    put: () => Effect.void
  })

  /** An in-process cache (tests, embedders); the first answer of a key is kept. */
  static readonly memory: Layer.Layer<LlmCache> = Layer.sync(LlmCache, () => {
    const entries = new Map<string, CachedReply>()
    return {
      get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
      put: (key, _model, reply) =>
        Effect.sync(() => {
          if (!entries.has(key)) entries.set(key, reply)
        })
    }
  })
}

/** The cache key of a request on a model: every input that shapes the answer. */
export const cacheKey = (spec: ModelSpec, request: LlmRequest, temperature: number, maxTokens: number): string =>
  createHash("sha256").update(JSON.stringify([
    spec.provider,
    spec.baseUrl,
    spec.model,
    request.system,
    request.user,
    temperature,
    maxTokens,
    spec.extraBody
  ])).digest("hex")
