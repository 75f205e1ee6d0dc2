/**
 * llmBatch: many prompts across many models at once, outside (or inside) evolution runs.
 *
 * - Effect form `runBatch` (BatchRun.ts): over the `LlmClient` in context.
 * - Promise form `llmBatch`: builds its own `ManagedRuntime` per call (disposed after) from
 *   `options` unless given a runtime, or joins the caller (BatchCaller.ts) when called from
 *   inside a running Effect or from a callback of another batch: safe from Promise code, from
 *   an evaluator callback and nested in a validator.
 * - Validators: `requireSymbol`, `extractCode` (BatchValidation.ts).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Fiber, Layer, ManagedRuntime, Option, Redacted, Runtime, Schema, type Tracer } from "effect"
import { LlmConfig } from "../domain/RunConfig.js"
import { callerRunner } from "./BatchCaller.js"
import * as NodeHttp from "./NodeHttp.js"
import { type BatchInput, type BatchOptions, type BatchResult, runBatch } from "./BatchRun.js"
import type { LlmClient } from "./LlmClient.js"
import * as LlmClientLive from "./LlmClientLive.js"

export * from "./BatchRun.js"
export * from "./BatchValidation.js"
export { definesSymbol } from "../domain/Symbols.js"

/** A model for the Promise form: a name, or an `llm.models` entry (snake_case, as in evolve.yaml). */
export type BatchModel = string | (typeof LlmConfig.Encoded extends { readonly models?: infer M } ? M extends ReadonlyArray<infer E> ? E : never : never)

export interface LlmBatchOptions extends BatchOptions {
  /** Models to use; requests may also name models not listed (they inherit the shared settings). */
  readonly models?: ReadonlyArray<BatchModel> | undefined
  /** OpenAI-compatible base URL shared by the models (default https://api.openai.com/v1). */
  readonly baseUrl?: string | undefined
  /** The API key (else read from `llm.api_key_env`, default OPENAI_API_KEY). Never logged. */
  readonly apiKey?: string | Redacted.Redacted | undefined
  /** Default "openai-chat". */
  readonly provider?: LlmConfig["provider"] | undefined
  /** Any other `llm` settings, snake_case as in evolve.yaml (prices, retries, selection, …). */
  readonly llm?: Partial<typeof LlmConfig.Encoded> | undefined
  /** Run on this runtime (its LlmClient and limits) instead of building one. */
  readonly runtime?: ManagedRuntime.ManagedRuntime<LlmClient, unknown> | Runtime.Runtime<LlmClient> | undefined
  /** Parent span of the batch's spans (default: the calling fiber's or enclosing batch's span). */
  readonly parentSpan?: Tracer.AnySpan | undefined
  readonly signal?: AbortSignal | undefined
}

const configKeys = ["models", "baseUrl", "apiKey", "provider", "llm"] as const

/** The `LlmConfig` the Promise form builds from its options (exported for tests and the CLI). */
export const configFromOptions = (
  inputs: ReadonlyArray<BatchInput>,
  options: Pick<LlmBatchOptions, "models" | "baseUrl" | "provider" | "llm">
): Effect.Effect<LlmConfig, Error> => {
  const listed = (options.models ?? []).map((m) => (typeof m === "string" ? { model: m } : m))
  const names = new Set(listed.map((m) => m.name ?? m.model))
  for (const input of inputs) {
    const model = typeof input === "string" ? undefined : input.model
    if (model !== undefined && !names.has(model)) {
      // Named only by requests: reachable when pinned, never chosen for unpinned requests
      // (unless no model is listed at all: then all weights are 0 and the choice is uniform).
      names.add(model)
      listed.push({ model, weight: 0 })
    }
  }
  const raw = {
    provider: options.provider ?? "openai-chat",
    ...(options.baseUrl !== undefined ? { base_url: options.baseUrl } : {}),
    ...options.llm,
    ...(listed.length > 0 ? { models: listed } : {})
  }
  return Schema.decodeUnknown(LlmConfig, { onExcessProperty: "error" })(raw).pipe(
    Effect.mapError((e) => new Error(`llmBatch: invalid options: ${e.message}`))
  )
}

const keyOf = (apiKey: string | Redacted.Redacted | undefined): Option.Option<Redacted.Redacted> =>
  apiKey === undefined ? Option.none() : Option.some(typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey)

/** The client layer the Promise form runs on (Node HTTP client, no cache, no recording). */
export const clientLayer = (config: LlmConfig, apiKey?: string | Redacted.Redacted): Layer.Layer<LlmClient> =>
  LlmClientLive.layer(config, keyOf(apiKey)).pipe(
    Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff]),
    Layer.provide(NodeContext.layer)
  )

/**
 * The Promise form. Resolves to one `BatchResult` per request, in input order; rejects only on
 * invalid options or when `signal` aborts. Safe from Promise code, from inside a running Effect
 * (it joins the calling fiber's LlmClient and span when present), from an evaluator callback,
 * and nested inside another batch's validator or callback.
 */
export const llmBatch = (
  inputs: ReadonlyArray<BatchInput>,
  options: LlmBatchOptions = {}
): Promise<Array<BatchResult>> => {
  const configured = configKeys.some((k) => options[k] !== undefined)
  const caller = options.runtime === undefined && !configured ? callerRunner() : undefined
  // Joining the caller keeps its span; a runtime of our own is parented to the calling fiber's span.
  const parentSpan = options.parentSpan ??
    (caller === undefined ? Option.getOrUndefined(Fiber.getCurrentFiber())?.currentSpan : undefined)
  const batch = runBatch(inputs, options)
  const rooted = parentSpan === undefined ? batch : Effect.withParentSpan(batch, parentSpan)
  const runOptions = options.signal !== undefined ? { signal: options.signal } : undefined

  if (caller !== undefined) return caller(rooted, runOptions)
  const given = options.runtime
  if (given !== undefined) {
    return ManagedRuntime.isManagedRuntime(given)
      ? (given as ManagedRuntime.ManagedRuntime<LlmClient, unknown>).runPromise(rooted, runOptions)
      : Runtime.runPromise(given as Runtime.Runtime<LlmClient>, rooted, runOptions)
  }
  return Effect.runPromise(configFromOptions(inputs, options)).then((config) => {
    const runtime = ManagedRuntime.make(clientLayer(config, options.apiKey))
    return runtime.runPromise(rooted, runOptions).finally(() => runtime.dispose())
  })
}

/** `llmBatch` as an Effect that builds its own client from `options` (scoped to the call; no cache, no recording). */
export const llmBatchEffect = (
  inputs: ReadonlyArray<BatchInput>,
  options: Omit<LlmBatchOptions, "runtime" | "signal" | "parentSpan"> = {}
): Effect.Effect<Array<BatchResult>, Error, HttpClient.HttpClient> =>
  Effect.flatMap(configFromOptions(inputs, options), (config) =>
    runBatch(inputs, options).pipe(
      Effect.provide(LlmClientLive.layer(config, keyOf(options.apiKey)).pipe(Layer.provide(LlmClientLive.featuresOff)))
    ))
