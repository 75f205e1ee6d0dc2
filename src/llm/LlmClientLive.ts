/**
 * The live `LlmClient`: one or several models (`llm.models`), each behind its own provider
 * (`Providers.makeLanguageModel`), wrapped per call in:
 *
 * 1. model choice: a pinned `request.model`, else the selector (weights or the cost-aware UCB
 *    bandit) among models whose circuit breaker is not open; a call whose model's breaker opens
 *    mid-way moves to another model; when every breaker is open the call fails fast with
 *    reason "circuit_open";
 * 2. the temperature-0 cache (`LlmCache`, when provided and `llm.cache`), keyed by a hash of
 *    provider + base URL + model + messages + params;
 * 3. the retry loop (`RetryPolicy.llmRetrySchedule`: exponential from 0.5 s, ×2, jitter, 8 s
 *    cap, `max_retries`, Retry-After honoured), bounded by `retry_budget_seconds` overall;
 * 4. per attempt: breaker admission, the optional requests-per-minute limiter, the AIMD
 *    concurrency limiter (429 → halve, +1 per min(limit, `aimd_increase_after`) successes), the per-attempt
 *    timeout, and the provider call;
 * 5. accounting: latency (Clock, whole call), tokens (provider usage, else chars / 4), USD
 *    from the model's prices, attempts; failures are `LlmCallError`s with the same fields;
 * 6. recording (`LlmRecorder`, when provided) of every finished call, and replay for models
 *    with `provider: replay` (`ReplayLog`).
 *
 * The API key (a `Redacted`) goes only to the provider; every error message is scrubbed of it.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { createHash } from "node:crypto"
import {
  Clock,
  Config,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  RateLimiter,
  Redacted,
  Ref,
  type Scope
} from "effect"
import * as LlmCache from "../db/LlmCache.js"
import { ConfigError, LlmError } from "../domain/Errors.js"
import type { LlmConfig } from "../domain/RunConfig.js"
import {
  type BreakerStatus,
  LlmCallError,
  LlmClient,
  type LlmReply,
  type LlmRequest,
  type LlmRetryInfo,
  type ModelStatus
} from "./LlmClient.js"
import { costUsd as costOf, estimateTokens, type ModelSpec, resolveModels } from "./Models.js"
import * as Providers from "./Providers.js"
import { LlmRecorder, type RecordEntry, recorderLayer, ReplayLog, replayLayer, requestKey } from "./Replay.js"
import { type AdaptiveLimiter, type CircuitBreaker, makeAdaptiveLimiter, makeCircuitBreaker } from "./Resilience.js"
import { emptyError, llmRetrySchedule, tapRetry, timeoutError, toLlmError, untilDeadline } from "./RetryPolicy.js"
import { makeSelector } from "./Selection.js"
import { scrubSecret } from "./OpenAiChat.js"

export { estimateTokens } from "./Models.js"

/** USD for a call under `config`'s prices: tokens × price per 1M tokens. */
export const costUsd = (
  config: Pick<LlmConfig, "price_input_per_m" | "price_output_per_m">,
  inputTokens: number,
  outputTokens: number
): number =>
  costOf({ priceInputPerM: config.price_input_per_m, priceOutputPerM: config.price_output_per_m }, inputTokens, outputTokens)

/** Failures that count against a model's circuit breaker: the model looks unusable, not the prompt. */
export const countsAgainstBreaker = (error: LlmError): boolean => {
  switch (error.reason) {
    case "rate_limited":
    case "server":
    case "timeout":
    case "connection":
    case "malformed":
      return true
    case "bad_request":
      return error.status === 401 || error.status === 403 || error.status === 404
    default:
      return false
  }
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

interface ModelRuntime {
  readonly spec: ModelSpec
  readonly lm: Option.Option<LanguageModel.Service>
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly limiter: AdaptiveLimiter
  readonly breaker: CircuitBreaker
  readonly rateLimit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stats: { calls: number; failures: number; cacheHits: number; completed: number; outputTokens: number }
}

interface RawReply {
  readonly text: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly finishReason: string
}

export interface MakeOptions {
  /** The key for models whose `api_key_env` is `llm.api_key_env` (read by the caller). */
  readonly apiKey?: Option.Option<Redacted.Redacted> | undefined
  /** The key for other env names; default: read the environment variable through `Config`. */
  readonly apiKeyFor?: ((envName: string) => Effect.Effect<Option.Option<Redacted.Redacted>>) | undefined
  /** Use this LanguageModel for every non-replay model instead of building providers (tests). */
  readonly languageModel?: LanguageModel.Service | undefined
}

const readKey = (envName: string): Effect.Effect<Option.Option<Redacted.Redacted>> =>
  Config.option(Config.redacted(envName)).pipe(Effect.orElseSucceed(() => Option.none()))

/** Builds the client; optional services (LlmCache, LlmRecorder, ReplayLog) are used when present. */
export const makeClient = (
  config: LlmConfig,
  options: MakeOptions = {}
): Effect.Effect<LlmClient["Type"], never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const specs = resolveModels(config)
    const cache = config.cache ? yield* Effect.serviceOption(LlmCache.LlmCache) : Option.none()
    const recorder = yield* Effect.serviceOption(LlmRecorder)
    const replay = yield* Effect.serviceOption(ReplayLog)

    const runtimes: Array<ModelRuntime> = []
    for (const spec of specs) {
      const apiKey = spec.apiKeyEnv === config.api_key_env && options.apiKey !== undefined
        ? options.apiKey
        : yield* (options.apiKeyFor ?? readKey)(spec.apiKeyEnv)
      const lm = spec.provider === "replay"
        ? Option.none()
        : options.languageModel !== undefined
        ? Option.some(options.languageModel)
        : yield* Providers.makeLanguageModel(spec, apiKey)
      const rateLimit: ModelRuntime["rateLimit"] = spec.requestsPerMinute === undefined
        ? (effect) => effect
        : yield* RateLimiter.make({
          limit: Math.max(1, Math.floor(spec.requestsPerMinute)),
          interval: Duration.minutes(1),
          algorithm: "token-bucket"
        })
      runtimes.push({
        spec,
        lm,
        apiKey,
        limiter: yield* makeAdaptiveLimiter({ max: spec.maxConcurrency, increaseAfter: config.aimd_increase_after }),
        breaker: yield* makeCircuitBreaker({
          failureThreshold: config.breaker_failures,
          cooldownMs: config.breaker_cooldown_seconds * 1000
        }),
        rateLimit,
        stats: { calls: 0, failures: 0, cacheHits: 0, completed: 0, outputTokens: 0 }
      })
    }
    const byName = new Map(runtimes.map((r) => [r.spec.name, r]))

    const typicalOutputTokens = (rt: ModelRuntime) =>
      rt.stats.completed > 0
        ? rt.stats.outputTokens / rt.stats.completed
        : (config.typical_output_tokens ?? rt.spec.maxTokens)
    const estimateFor = (rt: ModelRuntime, request: LlmRequest) =>
      costOf(
        rt.spec,
        estimateTokens(request.system) + estimateTokens(request.user),
        Math.min(typicalOutputTokens(rt), request.maxTokens ?? rt.spec.maxTokens)
      )

    const selector = makeSelector(specs, {
      strategy: config.selection,
      exploration: config.bandit_exploration,
      priorUsd: (spec) => estimateFor(byName.get(spec.name)!, { system: "", user: "" })
    })

    const scrub = (rt: ModelRuntime, text: string) => scrubSecret(text, rt.apiKey)

    // ---- one attempt ------------------------------------------------------------------------

    const prompt = (request: LlmRequest) =>
      // Built with constructors rather than a raw message array, which Prompt.make would Schema-decode.
      Prompt.fromMessages([
        Prompt.systemMessage({ content: request.system }),
        Prompt.userMessage({ content: [Prompt.makePart("text", { text: request.user })] })
      ])

    const providerCall = (rt: ModelRuntime, lm: LanguageModel.Service, request: LlmRequest) =>
      lm.generateText({ prompt: prompt(request) }).pipe(
        Providers.withOverrides(rt.spec, { temperature: request.temperature, maxTokens: request.maxTokens }),
        Effect.catchAll(toLlmError),
        Effect.flatMap((response): Effect.Effect<RawReply, LlmError> => {
          const text = response.text.length > 0 ? response.text : (response.reasoningText ?? "")
          return text.length > 0
            ? Effect.succeed({
              text,
              inputTokens: response.usage.inputTokens,
              outputTokens: response.usage.outputTokens,
              finishReason: response.finishReason
            })
            : Effect.fail(emptyError(response.finishReason))
        }),
        Effect.timeoutFail({ duration: Duration.millis(rt.spec.timeoutMs), onTimeout: () => timeoutError(rt.spec.timeoutMs) })
      )

    const openFor = (rt: ModelRuntime): Effect.Effect<number> =>
      Effect.zipWith(rt.breaker.state, Clock.currentTimeMillis, (s, now) => s._tag === "Open" ? Math.max(0, s.until - now) : 0)

    const circuitOpen = (rt: ModelRuntime) =>
      Effect.flatMap(openFor(rt), (ms) =>
        Effect.fail(
          new LlmError({
            reason: "circuit_open",
            message: `circuit breaker open for model ${rt.spec.name} (${config.breaker_failures} consecutive failed calls)`,
            retryAfterMs: ms
          })
        ))

    /** One attempt; from the second attempt of a call on, stops early when the model's breaker has opened meanwhile. */
    const attemptOnce = (rt: ModelRuntime, lm: LanguageModel.Service, request: LlmRequest, attempts: Ref.Ref<number>, first: number) =>
      Effect.gen(function*() {
        const n = (yield* Ref.updateAndGet(attempts, (k) => k + 1))
        if (n > first + 1 && (yield* rt.breaker.state)._tag === "Open") {
          yield* Ref.update(attempts, (k) => k - 1)
          return yield* circuitOpen(rt)
        }
        return yield* rt.rateLimit(
          rt.limiter.withPermit((window) =>
            providerCall(rt, lm, request).pipe(
              Effect.tapBoth({
                onFailure: (e) => e.reason === "rate_limited" ? rt.limiter.onRateLimited(window) : Effect.void,
                onSuccess: () => rt.limiter.onSuccess
              })
            )
          )
        ).pipe(
          Effect.withSpan("LlmClient.attempt", { attributes: { "gen_ai.request.model": rt.spec.name, "llm.attempt": n } })
        )
      })

    // ---- one call on one model --------------------------------------------------------------

    interface Attempted {
      readonly reply: LlmReply
    }

    const callModel = (
      rt: ModelRuntime,
      request: LlmRequest,
      onRetry: ((info: LlmRetryInfo) => Effect.Effect<void>) | undefined,
      startNs: bigint,
      priorAttempts: number
    ): Effect.Effect<Attempted, LlmCallError> =>
      Effect.gen(function*() {
        const spec = rt.spec
        rt.stats.calls++
        const elapsedMs = Effect.map(Clock.currentTimeNanos, (now) => Number(now - startNs) / 1_000_000)
        const fail = (error: LlmError, attempts: number) =>
          Effect.flatMap(elapsedMs, (latencyMs) => {
            rt.stats.failures++
            return Effect.fail(
              new LlmCallError({
                reason: error.reason,
                message: scrub(rt, error.message),
                status: error.status,
                retryAfterMs: error.retryAfterMs,
                attempts,
                model: spec.name,
                latencyMs,
                inputTokens: 0,
                outputTokens: 0,
                usd: 0
              })
            )
          })
        const succeed = (raw: RawReply, attempts: number, cached: boolean) =>
          Effect.map(elapsedMs, (latencyMs): Attempted => {
            const inputTokens = raw.inputTokens ?? estimateTokens(request.system) + estimateTokens(request.user)
            const outputTokens = raw.outputTokens ?? estimateTokens(raw.text)
            if (!cached) {
              rt.stats.completed++
              rt.stats.outputTokens += outputTokens
            }
            return {
              reply: {
                text: raw.text,
                model: spec.name,
                inputTokens,
                outputTokens,
                usd: cached ? 0 : costOf(spec, inputTokens, outputTokens),
                latencyMs,
                attempts,
                finishReason: raw.finishReason,
                ...(cached ? { cached: true } : {})
              }
            }
          })

        // Replay: the recorded answer, with its recorded accounting.
        if (spec.provider === "replay") {
          const index = Option.flatMap(replay, (log) => log.index(spec.replayFile ?? ""))
          if (Option.isNone(index)) {
            return yield* fail(
              new LlmError({
                reason: "bad_request",
                message: `replay: no recording loaded for model ${spec.name} (set llm.replay_file)`
              }),
              priorAttempts
            )
          }
          const answer = index.value.lookup(spec.name, request.system, request.user)
          if (answer === undefined) {
            return yield* fail(
              new LlmError({ reason: "bad_request", message: `replay: no recorded response for this request in ${index.value.file}` }),
              priorAttempts
            )
          }
          if (answer._tag === "Error") {
            return yield* fail(new LlmError({ ...answer.error }), answer.error.attempts ?? priorAttempts + 1)
          }
          yield* Effect.sleep(Duration.millis(answer.reply.latencyMs))
          rt.stats.completed++
          rt.stats.outputTokens += answer.reply.outputTokens
          return { reply: { ...answer.reply, model: spec.name } }
        }

        const lm = rt.lm.pipe(Option.getOrThrow)
        const temperature = request.temperature ?? spec.temperature
        const maxTokens = request.maxTokens ?? spec.maxTokens
        const key = temperature === 0 && Option.isSome(cache) ? cacheKey(spec, request, temperature, maxTokens) : undefined
        if (key !== undefined && Option.isSome(cache)) {
          const hit = yield* cache.value.get(key)
          if (Option.isSome(hit)) {
            rt.stats.cacheHits++
            return yield* succeed(hit.value, priorAttempts, true)
          }
        }

        const admission = yield* rt.breaker.admit
        if (admission === "rejected") {
          return yield* Effect.flatMap(Effect.flip(circuitOpen(rt)), (e) => fail(e, priorAttempts))
        }
        const attempts = yield* Ref.make(priorAttempts)
        const startMs = Number(startNs / 1_000_000n)
        const deadlineMs = startMs + spec.retryBudgetMs
        const schedule = tapRetry(
          untilDeadline(llmRetrySchedule(spec.maxRetries), deadlineMs),
          (step, delayMs) =>
            onRetry === undefined
              ? Effect.void
              : onRetry({ model: spec.name, attempt: step.attempt, reason: step.error.reason, delayMs })
        )
        const nowMs = yield* Clock.currentTimeMillis
        const result = yield* attemptOnce(rt, lm, request, attempts, priorAttempts).pipe(
          Effect.retry(schedule),
          Effect.timeoutFail({
            duration: Duration.millis(Math.max(0, deadlineMs - nowMs)),
            onTimeout: () =>
              new LlmError({
                reason: "timeout",
                message: `no answer within the call's time budget of ${spec.retryBudgetMs / 1000} s`
              })
          }),
          Effect.either,
          Effect.onInterrupt(() => admission === "probe" ? rt.breaker.abandonProbe : Effect.void)
        )
        // The breaker counts calls, not attempts: a call failed only once its retries are spent.
        if (Either.isRight(result)) yield* rt.breaker.onSuccess
        else if (countsAgainstBreaker(result.left)) yield* rt.breaker.onFailure
        else if (result.left.reason !== "circuit_open") yield* rt.breaker.onSuccess
        else if (admission === "probe") yield* rt.breaker.abandonProbe
        const n = yield* Ref.get(attempts)
        if (Either.isLeft(result)) return yield* fail(result.left, n)
        const done = yield* succeed(result.right, n, false)
        if (key !== undefined && Option.isSome(cache)) {
          yield* cache.value.put(key, spec.name, {
            text: done.reply.text,
            inputTokens: done.reply.inputTokens,
            outputTokens: done.reply.outputTokens,
            finishReason: done.reply.finishReason
          })
        }
        return done
      }).pipe(Effect.annotateSpans({ "gen_ai.request.model": rt.spec.name, "llm.provider": rt.spec.provider }))

    const record = (request: LlmRequest, result: Either.Either<LlmReply, LlmCallError>) =>
      Option.match(recorder, {
        onNone: () => Effect.void,
        onSome: (r) => {
          const model = Either.isRight(result) ? result.right.model : result.left.model
          const entry: RecordEntry = {
            v: 1,
            key: requestKey(model, request.system, request.user),
            model,
            request: { system: request.system, user: request.user },
            ...(Either.isRight(result)
              ? {
                reply: {
                  text: result.right.text,
                  inputTokens: result.right.inputTokens,
                  outputTokens: result.right.outputTokens,
                  usd: result.right.usd,
                  latencyMs: result.right.latencyMs,
                  attempts: result.right.attempts,
                  finishReason: result.right.finishReason
                }
              }
              : {
                error: {
                  reason: result.left.reason,
                  message: result.left.message,
                  ...(result.left.status !== undefined ? { status: result.left.status } : {}),
                  ...(result.left.attempts !== undefined ? { attempts: result.left.attempts } : {})
                }
              })
          }
          return r.record(entry)
        }
      })

    // ---- complete: choose, call, fail over --------------------------------------------------

    const allOpen = (startNs: bigint, attempts: number, model: string, pinned: boolean) =>
      Effect.flatMap(Effect.zip(Clock.currentTimeNanos, Effect.forEach(runtimes, openFor)), ([now, waits]) =>
        Effect.fail(
          new LlmCallError({
            retryAfterMs: Math.min(...waits),
            reason: "circuit_open",
            message: pinned
              ? `circuit breaker open for model ${model}`
              : `every model's circuit breaker is open (${runtimes.map((r) => r.spec.name).join(", ")})`,
            attempts,
            model,
            latencyMs: Number(now - startNs) / 1_000_000,
            inputTokens: 0,
            outputTokens: 0,
            usd: 0
          })
        ))

    const complete = Effect.fn("LlmClient.complete")(function*(
      request: LlmRequest,
      onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
    ) {
      // Always yield once: a call answered synchronously (replay, cache, an open breaker failing
      // fast) must not let a caller's loop monopolise the fiber scheduler.
      yield* Effect.yieldNow()
      const startNs = yield* Clock.currentTimeNanos
      const result = yield* Effect.gen(function*() {
        if (request.model !== undefined) {
          const rt = byName.get(request.model)
          if (rt === undefined) {
            return yield* new LlmCallError({
              reason: "bad_request",
              message: `unknown model ${request.model}; this client has ${runtimes.map((r) => r.spec.name).join(", ")}`,
              attempts: 0,
              model: request.model,
              latencyMs: 0,
              inputTokens: 0,
              outputTokens: 0,
              usd: 0
            })
          }
          selector.begin(rt.spec.name)
          return yield* callModel(rt, request, onRetry, startNs, 0).pipe(
            Effect.ensuring(Effect.sync(() => selector.end(rt.spec.name)))
          )
        }
        const tried = new Set<string>()
        let attempts = 0
        let last = runtimes[0]!.spec.name
        while (true) {
          const available: Array<ModelSpec> = []
          for (const rt of runtimes) {
            if (!tried.has(rt.spec.name) && (yield* rt.breaker.available)) available.push(rt.spec)
          }
          if (available.length === 0) return yield* allOpen(startNs, attempts, last, false)
          const spec = yield* selector.choose(available)
          const rt = byName.get(spec.name)!
          last = spec.name
          const outcome = yield* callModel(rt, request, onRetry, startNs, attempts).pipe(
            Effect.ensuring(Effect.sync(() => selector.end(spec.name))),
            Effect.either
          )
          if (Either.isRight(outcome)) return outcome.right
          if (outcome.left.reason !== "circuit_open") return yield* outcome.left
          attempts = outcome.left.attempts ?? attempts
          tried.add(spec.name)
        }
      }).pipe(Effect.map((a) => a.reply), Effect.either)
      yield* record(request, result)
      if (Either.isLeft(result)) {
        yield* Effect.annotateCurrentSpan({ "llm.error": result.left.reason, "llm.attempts": result.left.attempts ?? 0 })
        return yield* result.left
      }
      const reply = result.right
      yield* Effect.annotateCurrentSpan({
        "gen_ai.response.model": reply.model,
        "gen_ai.usage.input_tokens": reply.inputTokens,
        "gen_ai.usage.output_tokens": reply.outputTokens,
        "llm.attempts": reply.attempts,
        "llm.cached": reply.cached === true
      })
      return reply
    })

    const breakerStatus = (rt: ModelRuntime): Effect.Effect<BreakerStatus> =>
      Effect.map(rt.breaker.state, (s) => s._tag === "Closed" ? "closed" : s._tag === "Open" ? "open" : "half_open")

    return LlmClient.of({
      model: runtimes[0]!.spec.name,
      models: runtimes.map((r) => r.spec.name),
      complete,
      estimateCostUsd: (request) =>
        Effect.sync(() => {
          if (request.model !== undefined) {
            const rt = byName.get(request.model)
            if (rt !== undefined) return estimateFor(rt, request)
          }
          return Math.max(...runtimes.map((rt) => estimateFor(rt, request)))
        }),
      recordOutcome: (model, improvement, usd) => Effect.sync(() => selector.recordOutcome(model, improvement, usd)),
      status: Effect.forEach(runtimes, (rt) =>
        Effect.gen(function*() {
          const limiter = yield* rt.limiter.snapshot
          const arm = selector.stats().find((a) => a.name === rt.spec.name)
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
          } satisfies ModelStatus
        }))
    })
  })

/** The client over a `LanguageModel` supplied by the caller (tests, custom providers), for every model. */
export const layerWithModel = (config: LlmConfig): Layer.Layer<LlmClient, never, LanguageModel.LanguageModel> =>
  Layer.scoped(
    LlmClient,
    Effect.gen(function*() {
      const languageModel = yield* LanguageModel.LanguageModel
      return yield* makeClient(config, { languageModel, apiKey: Option.none() })
    })
  ).pipe(Layer.provide(noHttpClient))

// No provider is built by `layerWithModel`, so no HTTP client is ever used.
const noHttpClient = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make(() => Effect.die("layerWithModel: no HTTP client (the LanguageModel in context answers)"))
)

/**
 * The live client for `config`; the host supplies the `HttpClient`. `apiKey` is the key of
 * `llm.api_key_env` (read by the caller); other models' keys are read from their env vars.
 * Provide `LlmCache`, `LlmRecorder` or `ReplayLog` to this layer to enable them.
 */
export const layer = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted> = Option.none()
): Layer.Layer<LlmClient, never, HttpClient.HttpClient> => Layer.scoped(LlmClient, makeClient(config, { apiKey }))

/** `layer` with a plain string key (the Promise facade). */
export const layerWithKey = (config: LlmConfig, apiKey: string | undefined) =>
  layer(config, apiKey === undefined ? Option.none() : Option.some(Redacted.make(apiKey)))

export interface NodeLayerOptions {
  /** Append every finished call to this JSONL file (`evolve run --record FILE`). */
  readonly recordFile?: string | undefined
  /** SQLite file holding the temperature-0 cache (the run's database); none: no cache. */
  readonly cacheFile?: string | undefined
}

/**
 * Everything wired for Node: the undici HTTP client, the temperature-0 cache in `cacheFile`
 * (when `llm.cache`), the recorder (`recordFile`) and the recordings of `provider: replay`
 * models. Fails with a `ConfigError` for a replay model without `replay_file`, an unreadable
 * recording or an unwritable record file.
 */
export const layerNode = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted> = Option.none(),
  options: NodeLayerOptions = {}
): Layer.Layer<LlmClient, ConfigError> => {
  const models = resolveModels(config)
  const replayModels = models.filter((m) => m.provider === "replay")
  const unconfigured = replayModels.find((m) => m.replayFile === undefined)
  if (unconfigured !== undefined) {
    return Layer.fail(
      new ConfigError({ message: `llm: model ${unconfigured.name} uses provider replay but no replay_file is set`, path: "llm.replay_file" })
    )
  }
  const replayFiles = replayModels.flatMap((m) => (m.replayFile === undefined ? [] : [m.replayFile]))
  const extras = Layer.mergeAll(
    NodeHttpClient.layerUndici,
    options.cacheFile !== undefined && config.cache ? LlmCache.layerSqlite(options.cacheFile) : Layer.empty,
    options.recordFile !== undefined ? recorderLayer(options.recordFile) : Layer.empty,
    replayFiles.length > 0 ? replayLayer(replayFiles) : Layer.empty
  ).pipe(Layer.provide(NodeContext.layer))
  return layer(config, apiKey).pipe(Layer.provide(extras))
}
