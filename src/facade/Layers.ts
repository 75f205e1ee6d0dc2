/**
 * One-call layers for embedding: everything a run needs (the program database, the run's
 * services built by RunServices exactly as for the CLI, no shared limits) from a run
 * configuration in the evolve.yaml shape.
 */
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, type Redacted } from "effect"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { ConfigError, type DatabaseError } from "../domain/Errors.js"
import { resolveEvaluator } from "../config/RunSpecs.js"
import type { RunConfigInput, RunSpec } from "../domain/RunConfig.js"
import * as RunLimits from "../engine/RunLimits.js"
import * as RunServices from "../engine/RunServices.js"
import type { Evaluator } from "../evaluate/Evaluator.js"
import { inlineSpec } from "./Evolution.js"

export interface EvolveLiveOptions<E, R> {
  /** The evaluator (default: the run's contract from `config.evaluator`, as the CLI builds it). */
  readonly evaluator?: Layer.Layer<Evaluator, E, R> | undefined
  /**
   * The evaluator file of the config's contract (`evaluator.py` for openevolve/shinka, the
   * script of a `command` evaluator), relative to `cwd`; not needed with `evaluator` or
   * `evaluator.command`.
   */
  readonly evaluatorPath?: string | undefined
  /** SQLite file, or ":memory:" (default `config.database.path`). */
  readonly database?: string | undefined
  /** The LLM API key (default: the variable named by `llm.api_key_env`). */
  readonly apiKey?: string | Redacted.Redacted | undefined
  /** Append every LLM call to this JSONL file (replay it with `llm.provider: replay`). */
  readonly recordFile?: string | undefined
  /** Working directory of the evaluator (default the process's). */
  readonly cwd?: string | undefined
}

export type EvolveServices = ProgramDatabase.ProgramDatabase | SqlClient.SqlClient | RunServices.RunServices | RunLimits.RunLimits

/**
 * The spec and service options `EvolveLive` builds a run from: the config decoded, the evaluator
 * file (when given) resolved as the CLI resolves it.
 */
export const embeddedRun = <E, R>(config: RunConfigInput, options: EvolveLiveOptions<E, R>) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const cwd = options.cwd ?? (yield* Effect.sync(() => process.cwd()))
    const inline = yield* inlineSpec(config)
    const evaluatorPath = path.resolve(cwd, options.evaluatorPath ?? "inline:evaluate")
    const evaluator = options.evaluatorPath === undefined
      ? inline.config.evaluator
      : yield* resolveEvaluator(evaluatorPath, inline.config, process.execPath)
    if (options.evaluator === undefined && options.evaluatorPath === undefined && evaluator.contract === "command" && evaluator.command === undefined) {
      return yield* new ConfigError({
        path: "evaluator.command",
        message: "EvolveLive: pass an `evaluator` layer (e.g. FunctionEvaluator.layer), an `evaluatorPath`, or set evaluator.command in the config"
      })
    }
    const spec: RunSpec = {
      ...inline,
      evaluatorPath,
      config: { ...inline.config, evaluator, database: { path: options.database ?? inline.config.database.path } }
    }
    const services: RunServices.RunServicesOptions<E, R> = {
      apiKey: options.apiKey,
      recordFile: options.recordFile,
      evaluator: options.evaluator
    }
    return { spec, services }
  }).pipe(Effect.provide(Layer.merge(NodePath.layer, NodeFileSystem.layer)))

/**
 * Everything `Evolution.run` needs from a run config (snake_case keys, every key optional).
 * An invalid config fails the layer with a ConfigError.
 */
export const EvolveLive = <E = never, R = never>(
  config: RunConfigInput = {},
  options: EvolveLiveOptions<E, R> = {}
): Layer.Layer<EvolveServices, ConfigError | DatabaseError | E, R> =>
  Layer.unwrapEffect(Effect.map(embeddedRun(config, options), ({ services, spec }) =>
    Layer.mergeAll(RunServices.layer(spec, services), RunLimits.unlimited).pipe(
      Layer.provideMerge(ProgramDatabase.layer(spec.config.database.path))
    )))

/**
 * For tests and examples: an in-memory database and the offline LLM (deterministic, no
 * network) with the given evaluator.
 */
export const EvolveTest = <E = never, R = never>(
  evaluator: Layer.Layer<Evaluator, E, R>,
  config: RunConfigInput = {}
) =>
  EvolveLive({ ...config, llm: { ...config.llm, provider: "offline" } }, { evaluator, database: ":memory:" })
