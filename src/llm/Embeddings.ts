/**
 * Embeddings for the novelty check: `POST {baseUrl}/embeddings` (OpenAI-compatible: OpenAI,
 * vLLM, Ollama, llama.cpp, LM Studio, gateways), with the same per-attempt timeout, retry
 * policy and key handling as chat calls, or an offline embedding (hashed character trigrams,
 * L2-normalised; no network, deterministic) for tests and the offline example.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Config, Context, Duration, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { LlmError } from "../domain/Errors.js"
import type { LlmConfig } from "../domain/RunConfig.js"
import { scrubSecret, scrubUrl } from "./OpenAiChat.js"
import { llmRetrySchedule, parseRetryAfterMs, reasonForStatus, timeoutError } from "./RetryPolicy.js"

export interface EmbeddingResult {
  readonly vectors: ReadonlyArray<ReadonlyArray<number>>
  readonly inputTokens: number
  readonly usd: number
}

export class EmbeddingClient extends Context.Tag("evolve/EmbeddingClient")<EmbeddingClient, {
  readonly model: string
  /** One vector per text, in input order. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<EmbeddingResult, LlmError>
}>() {
  /** The offline embedding (256 dimensions): no network, deterministic; the default of a run without `llm.embedding`. */
  static readonly offline: Layer.Layer<EmbeddingClient> = Layer.sync(EmbeddingClient, () => makeOffline())
}

export const cosineSimilarity = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

// -----------------------------------------------------------------------------
// Offline
// -----------------------------------------------------------------------------

const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Hashed character-trigram embedding of `text` (whitespace runs collapsed), L2-normalised. */
export const offlineEmbedding = (text: string, dimensions = 256): Array<number> => {
  const v = new Array<number>(dimensions).fill(0)
  const t = ` ${text.replace(/\s+/g, " ").trim()} `
  for (let i = 0; i + 3 <= t.length; i++) {
    const h = fnv1a(t.slice(i, i + 3))
    v[h % dimensions]! += (h & 0x80000000) !== 0 ? -1 : 1
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  return norm === 0 ? v : v.map((x) => x / norm)
}

export const makeOffline = (dimensions = 256): EmbeddingClient["Type"] =>
  EmbeddingClient.of({
    model: "offline",
    embed: (texts) =>
      Effect.succeed({
        vectors: texts.map((t) => offlineEmbedding(t, dimensions)),
        inputTokens: texts.reduce((n, t) => n + Math.ceil(t.length / 4), 0),
        usd: 0
      })
  })

// -----------------------------------------------------------------------------
// HTTP
// -----------------------------------------------------------------------------

const EmbeddingResponse = Schema.Struct({
  data: Schema.Array(Schema.Struct({
    index: Schema.optional(Schema.NullOr(Schema.Number)),
    embedding: Schema.Array(Schema.Number)
  })),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({
    prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
    total_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  })))
})
const decodeResponse = Schema.decodeUnknownEither(Schema.parseJson(EmbeddingResponse))

export interface HttpEmbeddingOptions {
  readonly baseUrl: string
  readonly model: string
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly dimensions?: number | undefined
  readonly timeoutMs: number
  readonly maxRetries: number
  readonly pricePerM: number
}

export const makeHttp = (options: HttpEmbeddingOptions): Effect.Effect<EmbeddingClient["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const url = `${options.baseUrl.replace(/\/+$/, "")}/embeddings`
    const where = `POST ${scrubUrl(url)}`
    const scrub = (text: string) => scrubSecret(text, options.apiKey)

    const attempt = (texts: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        let request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUnsafeJson({
            model: options.model,
            input: texts,
            encoding_format: "float",
            ...(options.dimensions !== undefined ? { dimensions: options.dimensions } : {})
          })
        )
        if (Option.isSome(options.apiKey)) request = HttpClientRequest.bearerToken(request, options.apiKey.value)
        const response = yield* http.execute(request).pipe(
          Effect.mapError(() => new LlmError({ reason: "connection", message: `connection failed (${where})` }))
        )
        const body = yield* response.text.pipe(
          Effect.mapError(() => new LlmError({ reason: "connection", message: `connection lost while reading (${where})` }))
        )
        if (response.status < 200 || response.status >= 300) {
          const now = yield* Clock.currentTimeMillis
          return yield* new LlmError({
            reason: reasonForStatus(response.status),
            status: response.status,
            retryAfterMs: parseRetryAfterMs(response.headers, now),
            message: scrub(`HTTP ${response.status} from ${where}: ${body.slice(0, 300)}`)
          })
        }
        const decoded = decodeResponse(body)
        if (decoded._tag === "Left" || decoded.right.data.length !== texts.length) {
          return yield* new LlmError({ reason: "malformed", message: `could not decode the embeddings response (${where})` })
        }
        const data = [...decoded.right.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
        const inputTokens = decoded.right.usage?.prompt_tokens ?? texts.reduce((n, t) => n + Math.ceil(t.length / 4), 0)
        return {
          vectors: data.map((d) => d.embedding),
          inputTokens,
          usd: (inputTokens * options.pricePerM) / 1_000_000
        } satisfies EmbeddingResult
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(options.timeoutMs),
          onTimeout: () => timeoutError(options.timeoutMs)
        })
      )

    return EmbeddingClient.of({
      model: options.model,
      embed: (texts) =>
        texts.length === 0
          ? Effect.succeed({ vectors: [], inputTokens: 0, usd: 0 })
          : attempt(texts).pipe(
            Effect.retry(llmRetrySchedule(options.maxRetries)),
            Effect.withSpan("EmbeddingClient.embed", { attributes: { "gen_ai.request.model": options.model, count: texts.length } })
          )
    })
  })

/**
 * The embedding client of `llm.embedding` (base URL and key env default to the chat model's).
 * Offline when `llm.embedding.provider` is "offline", or when it is absent and `llm.provider`
 * is offline.
 */
export const layer = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted> = Option.none()
): Layer.Layer<EmbeddingClient, never, HttpClient.HttpClient> =>
  Layer.effect(
    EmbeddingClient,
    Effect.gen(function*() {
      const e = config.embedding
      if (e?.provider === "offline" || (e === undefined && config.provider === "offline")) {
        return makeOffline(e?.dimensions ?? 256)
      }
      const keyEnv = e?.api_key_env ?? config.api_key_env
      const key = keyEnv === config.api_key_env
        ? apiKey
        : yield* Config.option(Config.redacted(keyEnv)).pipe(Effect.orElseSucceed(() => Option.none()))
      return yield* makeHttp({
        baseUrl: e?.base_url ?? config.base_url,
        model: e?.model ?? "text-embedding-3-small",
        apiKey: key,
        dimensions: e?.dimensions,
        timeoutMs: (e?.timeout_seconds ?? 60) * 1000,
        maxRetries: config.max_retries,
        pricePerM: e?.price_per_m ?? 0
      })
    })
  )
