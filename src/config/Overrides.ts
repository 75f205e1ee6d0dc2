/**
 * The one table of settings that command-line flags and `EVOLVE_*` variables set, and the key
 * paths of evolve.yaml they override. The CLI builds its flags from it, ConfigLoader applies the
 * variables in the table's order (so `EVOLVE_PARALLEL` comes before the more specific
 * `EVOLVE_LLM_CONCURRENCY`), and `evolve generate` takes the LLM ones.
 */
import { Config, Effect, Option } from "effect"

export type ValueType = "int" | "number" | "string"

export interface Setting {
  /** The flag's name, without `--`. */
  readonly flag: string
  /** Variables that set it, applied in this order (a later one wins). */
  readonly env: ReadonlyArray<string>
  readonly paths: ReadonlyArray<ReadonlyArray<string>>
  readonly type: ValueType
  readonly description: string
}

const setting = <T extends ValueType>(
  flag: string,
  env: ReadonlyArray<string>,
  paths: ReadonlyArray<ReadonlyArray<string>>,
  type: T,
  description: string
): Setting & { readonly type: T } => ({ flag, env, paths, type, description })

export const settings = {
  iterations: setting("iterations", ["EVOLVE_ITERATIONS", "EVOLVE_MAX_EVALUATIONS"], [["max_evaluations"]], "int", "stop after this many evaluations (max_evaluations)"),
  parallel: setting("parallel", ["EVOLVE_PARALLEL"], [["concurrency", "proposals"], ["concurrency", "evaluations"]], "int", "proposals and evaluations in flight (sets both)"),
  llmConcurrency: setting("llm-concurrency", ["EVOLVE_LLM_CONCURRENCY"], [["concurrency", "proposals"]], "int", "LLM calls in flight (concurrency.proposals)"),
  evalConcurrency: setting("eval-concurrency", ["EVOLVE_EVAL_CONCURRENCY"], [["concurrency", "evaluations"]], "int", "evaluations in flight (concurrency.evaluations)"),
  seed: setting("seed", ["EVOLVE_SEED"], [["seed"]], "int", "seed for every random choice"),
  targetScore: setting("target-score", ["EVOLVE_TARGET_SCORE"], [["target_score"]], "number", "stop when a program reaches this score"),
  maxSeconds: setting("max-seconds", ["EVOLVE_MAX_SECONDS"], [["max_wall_seconds"]], "number", "wall-clock limit in seconds"),
  db: setting("db", ["EVOLVE_DB"], [["database", "path"]], "string", "SQLite database file or postgres:// URL (default: database.path from the config, else .evolve/evolve.db)"),
  provider: setting("provider", ["EVOLVE_PROVIDER"], [["llm", "provider"]], "string", "LLM provider: offline, openai-chat, openai-responses or replay"),
  model: setting("model", ["EVOLVE_MODEL"], [["llm", "model"]], "string", "model name for the LLM provider"),
  baseUrl: setting("base-url", ["EVOLVE_BASE_URL", "OPENAI_BASE_URL"], [["llm", "base_url"]], "string", "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
  timeout: setting("timeout", ["EVOLVE_EVAL_TIMEOUT"], [["evaluator", "timeout_seconds"]], "number", "evaluator timeout in seconds"),
  goal: setting("goal", [], [["goal"]], "string", "what the evolution should achieve"),
  temperature: setting("temperature", [], [["llm", "temperature"]], "number", "sampling temperature")
} as const

export type SettingName = keyof typeof settings

/** The value a setting's flag takes: a number for "int" and "number", else a string. */
export type ValueOf<N extends SettingName> = (typeof settings)[N]["type"] extends "string" ? string : number

/** A value given on the command line, already typed by @effect/cli, for a config key path. */
export interface FlagValue {
  readonly flag: string
  readonly path: ReadonlyArray<string>
  readonly value: unknown
}

/** The config values a flag sets (one per key path: `--parallel` sets two). */
export const flagValues = (name: SettingName, value: unknown): ReadonlyArray<FlagValue> => {
  const { flag, paths } = settings[name]
  return paths.map((path) => ({ flag, path, value }))
}

/** Every variable of the table with the setting it sets, in the order they are applied. */
export const variables: ReadonlyArray<{ readonly name: string; readonly setting: Setting }> = Object.values(settings)
  .flatMap((s: Setting) => s.env.map((name) => ({ name, setting: s })))

/** The table's variables that are set (read through Effect's Config, so tests can provide them). */
export const environment: Effect.Effect<Record<string, string | undefined>> = Effect.map(
  Effect.forEach(variables, ({ name }) =>
    Config.option(Config.string(name)).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
      Effect.map((value) => [name, Option.getOrUndefined(value)] as const)
    )),
  (entries) => Object.fromEntries(entries)
)
