import { Schema } from "effect"

/**
 * An answer of the temperature-0 LLM cache: the reply without its per-call accounting. Shared
 * by the cache service (src/llm/LlmCache.ts) and its SQL store (src/db/LlmCacheStore.ts).
 */
export const CachedReply = Schema.Struct({
  text: Schema.String,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  finishReason: Schema.String
})
export type CachedReply = typeof CachedReply.Type
