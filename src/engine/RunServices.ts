/**
 * The one place a run spec becomes the run's services (the CLI, the RunManager and the facade
 * all come here): the LLM client (providers, the cache in the run's database, recording, replay, embeddings), the
 * proposer over it, and the evaluator of the spec's contract (sandbox, limits, warm pool), or
 * one the caller brings (the facade's in-memory `evaluate`).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import * as LlmCacheStore from "../db/LlmCacheStore.js"
import { ConfigError } from "../domain/Errors.js"
import type { RunSpec } from "../domain/RunConfig.js"
import * as AgentProcess from "../evaluate/AgentProcess.js"
import { Evaluator } from "../evaluate/Evaluator.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import * as Embeddings from "../llm/Embeddings.js"
import { LlmCache } from "../llm/LlmCache.js"
import { LlmClient } from "../llm/LlmClient.js"
import * as LlmClientLive from "../llm/LlmClientLive.js"
import * as NodeHttp from "../llm/NodeHttp.js"
import * as Proposer from "../propose/Proposer.js"

export interface RunServicesOptions<E = never, R = never> {
  /** The LLM key; default: the variable `llm.api_key_env` names (none is fine for local servers). */
  readonly apiKey?: string | Redacted.Redacted | undefined
  /** Append every LLM call to this JSONL file (`evolve run --record FILE`). */
  readonly recordFile?: string | undefined
  /** The evaluator; default: the spec's contract (`EvaluatorLive.fromSpec`). */
  readonly evaluator?: Layer.Layer<Evaluator, E, R> | undefined
}

export type RunServices = Proposer.Proposer | LlmClient | Evaluator

/** Exactly the run's services of a context (not the span, scope or limits it was built under). */
export const pick = Context.pick(Proposer.Proposer, LlmClient, Evaluator)

/** The LLM key a run uses: given, else read from the variable `llm.api_key_env` names. */
export const apiKeyFor = (spec: RunSpec, apiKey?: string | Redacted.Redacted) =>
  apiKey !== undefined
    ? Effect.succeed(Option.some(typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey))
    : Config.option(Config.redacted(spec.config.llm.api_key_env)).pipe(
      Effect.mapError(() => new ConfigError({ path: "llm.api_key_env", message: `environment variable ${spec.config.llm.api_key_env} is invalid` }))
    )

/**
 * What a run is built from, in one plain value: two callers that pass the same spec and options
 * get the same run (the test of the CLI and the facade compares these).
 */
export const plan = <E, R>(spec: RunSpec, options: RunServicesOptions<E, R> = {}) => ({
  llm: spec.config.llm,
  cache: spec.config.llm.cache && spec.config.database.path !== ":memory:" ? spec.config.database.path : null,
  recordFile: options.recordFile ?? null,
  embeddings: spec.config.llm.embedding !== undefined,
  proposer: {
    goal: spec.config.goal,
    language: spec.config.language ?? "text",
    extension: /\.[A-Za-z0-9]+$/.exec(spec.programPath)?.[0] ?? "",
    editFormat: spec.config.edit_format,
    maxCodeBytes: spec.config.max_code_bytes
  },
  evaluator: options.evaluator === undefined ? { ...spec.config.evaluator, slots: spec.config.concurrency.evaluations } : "caller's"
})

/** The services of one run, from its spec. */
export const layer = <E = never, R = never>(
  spec: RunSpec,
  options: RunServicesOptions<E, R> = {}
): Layer.Layer<RunServices, ConfigError | E, R | SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const planned = plan(spec, options)
    const apiKey = yield* apiKeyFor(spec, options.apiKey)
    // The temperature-0 cache lives in the run's database, over its connection.
    const cache = planned.cache === null ? LlmCache.disabled : Layer.effect(LlmCache, LlmCacheStore.make())
    const llm = LlmClientLive.layerNode(spec.config.llm, apiKey, { recordFile: planned.recordFile ?? undefined }).pipe(
      Layer.provide(cache),
      // provider agent: coding agents run contained like evaluators.
      Layer.provide(AgentProcess.layer().pipe(Layer.provide(NodeContext.layer)))
    )
    const embeddings = planned.embeddings
      ? Embeddings.layer(spec.config.llm, apiKey).pipe(Layer.provide(NodeHttp.layer))
      : Embeddings.EmbeddingClient.offline
    const proposer = Proposer.layer(planned.proposer).pipe(Layer.provide(embeddings), Layer.provideMerge(llm))
    const evaluator: Layer.Layer<Evaluator, ConfigError | E, R> = options.evaluator ??
      EvaluatorLive.fromSpec(spec).pipe(Layer.provide(NodeContext.layer))
    return Layer.merge(proposer, evaluator)
  }))
