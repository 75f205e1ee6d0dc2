/**
 * The live `LlmClient`: one or several models (`llm.models`), each behind its own provider and
 * its own limits and breaker (`ModelRuntime`), called through `ModelCall.callModel` (replay,
 * temperature-0 cache, retries, accounting). This module chooses the model of each call — a
 * pinned `request.model`, else the selector (weights or the cost-aware UCB bandit) among models
 * whose breaker is not open; a call whose model's breaker opens mid-way moves to another
 * model; when every breaker is open the call fails fast with reason "circuit_open" — records
 * every finished call (`LlmRecorder`), and reports status.
 *
 * The cache, the recorder and the replay log are required services: provide the real ones, or
 * their explicit no-op layers (`LlmCache.disabled`, `LlmRecorder.none`, `ReplayLog.none`, all
 * three as `featuresOff`). The API key (a `Redacted`) goes only to the provider; every error
 * message is scrubbed of it.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Clock, Config, Effect, Either, Layer, Option, Redacted, type Scope } from "effect"
import { ConfigError } from "../domain/Errors.js"
import { zeroUsage } from "../domain/LlmUsage.js"
import type { LlmConfig } from "../domain/RunConfig.js"
import { LlmCache } from "./LlmCache.js"
import * as NodeHttp from "./NodeHttp.js"
import { LlmCallError, LlmClient, type LlmReply, noRecording, type LlmRequest, type LlmRetryInfo } from "./LlmClient.js"
import { callModel, type CallContext } from "./ModelCall.js"
import { type ModelSpec, resolveModels } from "./Models.js"
import { estimateUsd, makeModelRuntime, type ModelRuntime, modelStatus, openForMs } from "./ModelRuntime.js"
import { LlmRecorder, recorderLayer, ReplayLog, replayLayer } from "./Replay.js"
import { makeSelector } from "./Selection.js"
import * as Traced from "../domain/Traced.js"

/** What the live client needs besides an `HttpClient`: each feature, or its explicit no-op. */
export type Features = LlmCache | LlmRecorder | ReplayLog

/** No cache, no recording, no replay. */
export const featuresOff: Layer.Layer<Features> = Layer.mergeAll(LlmCache.disabled, LlmRecorder.none, ReplayLog.none)

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

export const makeClient = (
  config: LlmConfig,
  options: MakeOptions = {}
): Effect.Effect<LlmClient["Type"], never, HttpClient.HttpClient | Scope.Scope | Features> =>
  Effect.gen(function*() {
    const specs = resolveModels(config)
    const cache = yield* LlmCache
    const recorder = yield* LlmRecorder
    const context: CallContext = {
      cache: config.cache ? cache : undefined,
      replay: yield* ReplayLog,
      breakerFailures: config.breaker_failures
    }

    const runtimes: Array<ModelRuntime> = []
    for (const spec of specs) {
      const apiKey = spec.apiKeyEnv === config.api_key_env && options.apiKey !== undefined
        ? options.apiKey
        : yield* (options.apiKeyFor ?? readKey)(spec.apiKeyEnv)
      runtimes.push(yield* makeModelRuntime(spec, config, apiKey, options.languageModel))
    }
    const byName = new Map(runtimes.map((r) => [r.spec.name, r]))
    /** Weights set while the run goes (steering), over the config's. */
    const weights = new Map<string, number>()
    const weighted = (spec: ModelSpec): ModelSpec => {
      const weight = weights.get(spec.name)
      return weight === undefined ? spec : { ...spec, weight }
    }
    const estimate = (rt: ModelRuntime, request: LlmRequest) => estimateUsd(rt, request, config.typical_output_tokens)

    const selector = makeSelector(specs, {
      strategy: config.selection,
      exploration: config.bandit_exploration,
      priorUsd: (spec) => estimate(byName.get(spec.name)!, { system: "", user: "" })
    })

    const allOpen = (startNs: bigint, attempts: number, model: string) =>
      Effect.flatMap(Effect.zip(Clock.currentTimeNanos, Effect.forEach(runtimes, openForMs)), ([now, waits]) =>
        Effect.fail(
          new LlmCallError({
            retryAfterMs: Math.min(...waits),
            reason: "circuit_open",
            message: `every model's circuit breaker is open (${runtimes.map((r) => r.spec.name).join(", ")})`,
            ...zeroUsage(model, Number(now - startNs) / 1_000_000, attempts)
          })
        ))

    const pinned = (
      request: LlmRequest & { readonly model: string },
      onRetry: ((info: LlmRetryInfo) => Effect.Effect<void>) | undefined,
      startNs: bigint
    ): Effect.Effect<LlmReply, LlmCallError> => {
      const rt = byName.get(request.model)
      if (rt === undefined) {
        return new LlmCallError({
          reason: "bad_request",
          message: `unknown model ${request.model}; this client has ${runtimes.map((r) => r.spec.name).join(", ")}`,
          ...zeroUsage(request.model)
        })
      }
      selector.begin(rt.spec.name)
      return callModel(context, rt, request, onRetry, startNs, 0).pipe(Effect.ensuring(Effect.sync(() => selector.end(rt.spec.name))))
    }

    /** The selector's choice among models not tried yet whose breaker lets calls through; the next one when its breaker opens. */
    const chosen = (request: LlmRequest, onRetry: ((info: LlmRetryInfo) => Effect.Effect<void>) | undefined, startNs: bigint) =>
      Effect.gen(function*() {
        const tried = new Set<string>()
        let attempts = 0
        let last = runtimes[0]!.spec.name
        while (true) {
          const available: Array<ModelSpec> = []
          for (const rt of runtimes) {
            if (!tried.has(rt.spec.name) && (yield* rt.breaker.available)) available.push(weighted(rt.spec))
          }
          if (available.length === 0) return yield* allOpen(startNs, attempts, last)
          const spec = yield* selector.choose(available)
          last = spec.name
          const outcome = yield* callModel(context, byName.get(spec.name)!, request, onRetry, startNs, attempts).pipe(
            Effect.ensuring(Effect.sync(() => selector.end(spec.name))),
            Effect.either
          )
          if (Either.isRight(outcome)) return outcome.right
          if (outcome.left.reason !== "circuit_open") return yield* outcome.left
          attempts = outcome.left.attempts
          tried.add(spec.name)
        }
      })

    const complete = Traced.fn("LlmClient.complete")(function*(
      request: LlmRequest,
      onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
    ) {
      // Always yield once: a call answered synchronously (replay, cache, an open breaker failing
      // fast) must not let a caller's loop monopolise the fiber scheduler.
      yield* Effect.yieldNow()
      const startNs = yield* Clock.currentTimeNanos
      const result = yield* Effect.either(
        request.model !== undefined ? pinned({ ...request, model: request.model }, onRetry, startNs) : chosen(request, onRetry, startNs)
      )
      yield* recorder.record(request, result)
      if (Either.isLeft(result)) {
        yield* Traced.annotateCurrentSpan({ "llm.error": result.left.reason, "llm.attempts": result.left.attempts })
        return yield* result.left
      }
      const reply = result.right
      yield* Traced.annotateCurrentSpan({
        "gen_ai.response.model": reply.model,
        "gen_ai.usage.input_tokens": reply.inputTokens,
        "gen_ai.usage.output_tokens": reply.outputTokens,
        "llm.attempts": reply.attempts,
        "llm.cached": reply.cached === true
      })
      return reply
    })

    return LlmClient.of({
      model: runtimes[0]!.spec.name,
      models: runtimes.map((r) => r.spec.name),
      complete,
      estimateCostUsd: (request) =>
        Effect.sync(() => {
          const rt = request.model === undefined ? undefined : byName.get(request.model)
          return rt !== undefined ? estimate(rt, request) : Math.max(...runtimes.map((r) => estimate(r, request)))
        }),
      recordOutcome: (model, improvement, usd) => Effect.sync(() => selector.recordOutcome(model, improvement, usd)),
      setWeight: (model, weight) =>
        Effect.sync(() => {
          if (!byName.has(model)) return false
          weights.set(model, weight)
          return true
        }),
      status: Effect.suspend(() => {
        const arms = selector.stats()
        return Effect.forEach(runtimes, (rt) => modelStatus(rt, arms.find((a) => a.name === rt.spec.name)))
      }),
      recording: {
        steer: recorder.steer,
        applied: recorder.applied,
        // The run's part of the first replayed recording that has one (a recording is of one run).
        replayed: specs.flatMap((s) => (s.provider === "replay" && s.replayFile !== undefined ? [s.replayFile] : []))
          .flatMap((file) => Option.toArray(context.replay.index(file)))
          .map((i) => ({ steering: i.steering, applied: i.applied }))
          .find((r) => r.steering.length > 0 || r.applied.length > 0) ?? noRecording.replayed
      }
    })
  })

// No provider is built by `layerWithModel`, so no HTTP client is ever used.
const noHttpClient = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make(() => Effect.die("layerWithModel: no HTTP client (the LanguageModel in context answers)"))
)

/** The client over a `LanguageModel` supplied by the caller (tests, custom providers), for every model. */
export const layerWithModel = (config: LlmConfig): Layer.Layer<LlmClient, never, LanguageModel.LanguageModel | Features> =>
  Layer.scoped(
    LlmClient,
    Effect.flatMap(LanguageModel.LanguageModel, (languageModel) => makeClient(config, { languageModel, apiKey: Option.none() }))
  ).pipe(Layer.provide(noHttpClient))

/**
 * The live client for `config`; the host supplies the `HttpClient` and the features (the
 * cache, the recorder, the replay log, or `featuresOff`). `apiKey` is the key of
 * `llm.api_key_env` (read by the caller); other models' keys are read from their env vars.
 */
export const layer = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted> = Option.none()
): Layer.Layer<LlmClient, never, HttpClient.HttpClient | Features> => Layer.scoped(LlmClient, makeClient(config, { apiKey }))

/** `layer` with a plain string key (the Promise facade). */
export const layerWithKey = (config: LlmConfig, apiKey: string | undefined) =>
  layer(config, apiKey === undefined ? Option.none() : Option.some(Redacted.make(apiKey)))

export interface NodeLayerOptions {
  /** Append every finished call to this JSONL file (`evolve run --record FILE`); none: no recording. */
  readonly recordFile?: string | undefined
}

/**
 * Wired for Node: Node's HTTP client (`NodeHttp`), the recorder (`recordFile`) and the recordings of
 * `provider: replay` models; the caller provides the `LlmCache` (`LlmCache.disabled` for none).
 * Fails with a `ConfigError` for a replay model without `replay_file`, an unreadable recording
 * or an unwritable record file.
 */
export const layerNode = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted> = Option.none(),
  options: NodeLayerOptions = {}
): Layer.Layer<LlmClient, ConfigError, LlmCache> => {
  const replayModels = resolveModels(config).filter((m) => m.provider === "replay")
  const unconfigured = replayModels.find((m) => m.replayFile === undefined)
  if (unconfigured !== undefined) {
    return Layer.fail(
      new ConfigError({ message: `llm: model ${unconfigured.name} uses provider replay but no replay_file is set`, path: "llm.replay_file" })
    )
  }
  const agentless = resolveModels(config).find((m) => m.provider === "agent" && m.agent === undefined)
  if (agentless !== undefined) {
    return Layer.fail(
      new ConfigError({
        message: `llm: model ${agentless.name} uses provider agent but no agent command is set (llm.agent: { command: [...] })`,
        path: "llm.agent"
      })
    )
  }
  const replayFiles = replayModels.flatMap((m) => (m.replayFile === undefined ? [] : [m.replayFile]))
  const extras = Layer.mergeAll(
    NodeHttp.layer,
    options.recordFile !== undefined ? recorderLayer(options.recordFile) : LlmRecorder.none,
    replayFiles.length > 0 ? replayLayer(replayFiles) : ReplayLog.none
  ).pipe(Layer.provide(NodeContext.layer))
  return layer(config, apiKey).pipe(Layer.provide(extras))
}
