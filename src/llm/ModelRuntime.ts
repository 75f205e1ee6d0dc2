/**
 * The live state of one model of an `LlmClient`: its provider, its key, its AIMD concurrency
 * limiter, its circuit breaker, its optional requests-per-minute limiter and its counters, plus
 * the read-outs built from them (cost estimate, breaker wait, status).
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Clock, Duration, Effect, Option, RateLimiter, type Redacted, type Scope } from "effect"
import type { LlmConfig } from "../domain/RunConfig.js"
import type { BreakerStatus, LlmRequest, ModelStatus } from "./LlmClient.js"
import { costUsd, estimateTokens, type ModelSpec } from "./Models.js"
import * as AgentModel from "./agent/AgentModel.js"
import * as OpenAiChat from "./OpenAiChat.js"
import * as Providers from "./Providers.js"
import { type AdaptiveLimiter, type CircuitBreaker, makeAdaptiveLimiter, makeCircuitBreaker } from "./Resilience.js"
import type { ArmStats } from "./Selection.js"

export interface ModelStats {
  calls: number
  failures: number
  cacheHits: number
  /** Calls answered by the provider (or a recording), and their output tokens: the typical output. */
  completed: number
  outputTokens: number
}

export interface ModelRuntime {
  readonly spec: ModelSpec
  /** None for `provider: replay` and `provider: agent`. */
  readonly lm: Option.Option<LanguageModel.Service>
  /** An `openai-chat` model's request, which calls take directly instead of through `lm`. */
  readonly chat: OpenAiChat.Chat | undefined
  /** The coding agent of a `provider: agent` model. */
  readonly agent: AgentModel.AgentModel | undefined
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly limiter: AdaptiveLimiter
  readonly breaker: CircuitBreaker
  readonly rateLimit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stats: ModelStats
}

export const makeModelRuntime = (
  spec: ModelSpec,
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted>,
  /** Answers every non-replay model instead of a provider built from `spec` (tests, custom models). */
  languageModel: LanguageModel.Service | undefined
): Effect.Effect<ModelRuntime, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const agent = spec.provider === "agent"
      ? yield* AgentModel.make(spec.agent, [...new Set([config.api_key_env, spec.apiKeyEnv])])
      : undefined
    const lm = spec.provider === "replay" || spec.provider === "agent"
      ? Option.none()
      : languageModel !== undefined
      ? Option.some(languageModel)
      : yield* Providers.makeLanguageModel(spec, apiKey)
    const chat = spec.provider === "openai-chat" && languageModel === undefined
      ? yield* OpenAiChat.makeChat(Providers.openAiChatOptions(spec, apiKey))
      : undefined
    const rateLimit: ModelRuntime["rateLimit"] = spec.requestsPerMinute === undefined
      ? (effect) => effect
      : yield* RateLimiter.make({
        limit: Math.max(1, Math.floor(spec.requestsPerMinute)),
        interval: Duration.minutes(1),
        algorithm: "token-bucket"
      })
    return {
      spec,
      lm,
      chat,
      agent,
      apiKey,
      limiter: yield* makeAdaptiveLimiter({ max: spec.maxConcurrency, increaseAfter: config.aimd_increase_after }),
      breaker: yield* makeCircuitBreaker({
        failureThreshold: config.breaker_failures,
        cooldownMs: config.breaker_cooldown_seconds * 1000
      }),
      rateLimit,
      stats: { calls: 0, failures: 0, cacheHits: 0, completed: 0, outputTokens: 0 }
    }
  })

/**
 * Expected USD of `request` on the model: prompt tokens (chars / 4) × input price + typical
 * output tokens × output price, where "typical" is the model's mean output so far, else
 * `typicalOutputTokens`, else max_tokens; capped by the request's max tokens.
 */
export const estimateUsd = (rt: ModelRuntime, request: LlmRequest, typicalOutputTokens: number | undefined): number => {
  const typical = rt.stats.completed > 0
    ? rt.stats.outputTokens / rt.stats.completed
    : (typicalOutputTokens ?? rt.spec.maxTokens)
  return costUsd(
    rt.spec,
    estimateTokens(request.system) + estimateTokens(request.user),
    Math.min(typical, request.maxTokens ?? rt.spec.maxTokens)
  )
}

/** Milliseconds until the model's open breaker half-opens (0 when it is not open). */
export const openForMs = (rt: ModelRuntime): Effect.Effect<number> =>
  Effect.zipWith(rt.breaker.state, Clock.currentTimeMillis, (s, now) => s._tag === "Open" ? Math.max(0, s.until - now) : 0)

const breakerStatus = (rt: ModelRuntime): Effect.Effect<BreakerStatus> =>
  Effect.map(rt.breaker.state, (s) => s._tag === "Closed" ? "closed" : s._tag === "Open" ? "open" : "half_open")

export const modelStatus = (rt: ModelRuntime, arm: ArmStats | undefined): Effect.Effect<ModelStatus> =>
  Effect.gen(function*() {
    const limiter = yield* rt.limiter.snapshot
    return {
      name: rt.spec.name,
      provider: rt.spec.provider,
      limit: limiter.limit,
      maxConcurrency: limiter.max,
      inFlight: limiter.inFlight,
      breaker: yield* breakerStatus(rt),
      calls: rt.stats.calls,
      failures: rt.stats.failures,
      cacheHits: rt.stats.cacheHits,
      outcomes: arm?.outcomes ?? 0,
      totalImprovement: arm?.totalImprovement ?? 0,
      totalUsd: arm?.totalUsd ?? 0
    }
  })
