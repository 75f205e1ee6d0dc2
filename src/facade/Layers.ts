/**
 * One-call layers for embedding: everything a run needs (program database, LLM client and
 * proposer, evaluator) from a run configuration.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { decodeRunConfig } from "../config/ConfigLoader.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { ConfigError, type DatabaseError } from "../domain/Errors.js"
import type { RunConfig, RunConfigInput } from "../domain/RunConfig.js"
import * as CommandEvaluator from "../evaluate/CommandEvaluator.js"
import type { Evaluator } from "../evaluate/Evaluator.js"
import type { LlmClient } from "../llm/LlmClient.js"
import * as LlmClientLive from "../llm/LlmClientLive.js"
import * as Proposer from "../propose/Proposer.js"
import { programKind } from "./Evolution.js"

/** The API key: given, else read from the variable `config.llm.api_key_env` names (none is fine for local servers). */
export const apiKeyFor = (
  config: RunConfig,
  apiKey?: string | Redacted.Redacted | undefined
): Effect.Effect<Option.Option<Redacted.Redacted>> =>
  apiKey !== undefined
    ? Effect.succeed(Option.some(typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey))
    : Config.option(Config.redacted(config.llm.api_key_env)).pipe(Effect.orElseSucceed(() => Option.none()))

/** The LLM client and the proposer over it, for a decoded config. */
export const proposerLayer = (
  config: RunConfig,
  apiKey: Option.Option<Redacted.Redacted>
): Layer.Layer<Proposer.Proposer | LlmClient> => {
  const llm = LlmClientLive.layer(config.llm, apiKey).pipe(Layer.provide(NodeHttpClient.layerUndici))
  return Proposer.layer({
    goal: config.goal,
    language: programKind({ language: config.language }).language,
    editFormat: config.edit_format,
    maxCodeBytes: config.max_code_bytes
  }).pipe(Layer.provideMerge(llm))
}

/** The `command` contract from `config.evaluator` (its `command` is required here). */
export const commandEvaluatorLayer = (config: RunConfig, cwd: string): Layer.Layer<Evaluator, ConfigError> => {
  const command = config.evaluator.command
  if (command === undefined) {
    return Layer.fail(
      new ConfigError({
        path: "evaluator.command",
        message: "EvolveLive: pass an `evaluator` layer (e.g. FunctionEvaluator.layer) or set evaluator.command in the config"
      })
    )
  }
  return CommandEvaluator.layer({
    command,
    cwd,
    timeoutMs: config.evaluator.timeout_seconds * 1000,
    killGraceMs: config.evaluator.kill_grace_seconds * 1000,
    outputCapBytes: config.evaluator.output_cap_bytes,
    primaryMetric: config.evaluator.primary_metric,
    keepArtifacts: config.evaluator.keep_artifacts
  }).pipe(Layer.provide(NodeContext.layer))
}

export interface EvolveLiveOptions<E, R> {
  /** The evaluator (default: the `command` contract from `config.evaluator.command`). */
  readonly evaluator?: Layer.Layer<Evaluator, E, R> | undefined
  /** SQLite file, or ":memory:" (default `config.database.path`). */
  readonly database?: string | undefined
  /** The LLM API key (default: the variable named by `llm.api_key_env`). */
  readonly apiKey?: string | Redacted.Redacted | undefined
  /** Working directory of a command evaluator (default the process's). */
  readonly cwd?: string | undefined
}

/**
 * Everything `EvolutionRun.start` (and `Evolution.run`) needs, from a run config in the
 * evolve.yaml shape (snake_case keys, every key optional): ProgramDatabase, Proposer, LlmClient,
 * Evaluator. An invalid config fails the layer with a ConfigError.
 */
export const EvolveLive = <E = never, R = never>(
  config: RunConfigInput = {},
  options: EvolveLiveOptions<E, R> = {}
): Layer.Layer<
  ProgramDatabase.ProgramDatabase | Proposer.Proposer | LlmClient | Evaluator,
  ConfigError | DatabaseError | E,
  R
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const decoded = yield* decodeRunConfig(config)
    const apiKey = yield* apiKeyFor(decoded, options.apiKey)
    const cwd = options.cwd ?? (yield* Effect.sync(() => process.cwd()))
    const evaluator: Layer.Layer<Evaluator, ConfigError | E, R> = options.evaluator ?? commandEvaluatorLayer(decoded, cwd)
    return Layer.mergeAll(
      ProgramDatabase.layer(options.database ?? decoded.database.path),
      proposerLayer(decoded, apiKey),
      evaluator
    )
  }))

/**
 * For tests and examples: an in-memory database and the offline LLM (deterministic, no
 * network) with the given evaluator.
 */
export const EvolveTest = <E = never, R = never>(
  evaluator: Layer.Layer<Evaluator, E, R>,
  config: RunConfigInput = {}
) =>
  EvolveLive({ ...config, llm: { ...config.llm, provider: "offline" } }, { evaluator, database: ":memory:" })
