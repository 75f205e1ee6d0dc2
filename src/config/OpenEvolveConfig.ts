/**
 * Reads an OpenEvolve config.yaml as an evolve config, so an OpenEvolve example directory runs
 * with `evolve run initial_program.py evaluator.py --config config.yaml`.
 *
 * `detect` recognises the format by keys evolve does not have (max_iterations, random_seed,
 * diff_based_evolution, prompt, llm.api_base, llm.primary_model, evaluator.timeout,
 * evaluator.cascade_evaluation, database.num_islands, …). `map` translates what has a meaning
 * in evolve, implies `evaluator.contract: openevolve`, keeps evolve's own keys when a file mixes
 * both, and returns one warning per key it ignores. API keys are never taken from the file.
 */

import { EvaluatorConfig, LlmConfig, RunConfig } from "../domain/RunConfig.js"

type Raw = Record<string, unknown>

const isRecord = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Top-level keys of OpenEvolve's Config that evolve's RunConfig does not have. */
const openEvolveTopLevel = new Set([
  "max_iterations",
  "checkpoint_interval",
  "log_level",
  "log_dir",
  "random_seed",
  "file_suffix",
  "diff_based_evolution",
  "max_code_length",
  "enforce_evolve_blocks",
  "diff_pattern",
  "early_stopping_patience",
  "convergence_threshold",
  "early_stopping_metric",
  "max_tasks_per_child",
  "prompt",
  "evolution_trace"
])

const openEvolveLlm = new Set([
  "api_base",
  "api_key",
  "primary_model",
  "primary_model_weight",
  "secondary_model",
  "secondary_model_weight",
  "evaluator_models",
  "top_p",
  "timeout",
  "retries",
  "retry_delay",
  "reasoning_effort",
  "system_message",
  "manual_mode"
])

const openEvolveEvaluator = new Set([
  "timeout",
  "max_retries",
  "memory_limit_mb",
  "cpu_limit",
  "cascade_evaluation",
  "cascade_thresholds",
  "parallel_evaluations",
  "distributed",
  "use_llm_feedback",
  "llm_feedback_weight",
  "enable_artifacts",
  "max_artifact_storage",
  "evaluator_args"
])

const openEvolveDatabase = new Set([
  "db_path",
  "in_memory",
  "log_prompts",
  "population_size",
  "archive_size",
  "num_islands",
  "elite_selection_ratio",
  "exploration_ratio",
  "exploitation_ratio",
  "diversity_metric",
  "feature_dimensions",
  "feature_bins",
  "diversity_reference_size",
  "migration_interval",
  "migration_rate",
  "random_seed",
  "artifacts_base_path",
  "artifact_size_threshold",
  "cleanup_old_artifacts",
  "artifact_retention_days",
  "max_snapshot_artifacts",
  "embedding_model",
  "embedding_api_base",
  "similarity_threshold"
])

/** OpenEvolve model entries are `{ name, weight, … }`; evolve's are `{ model, … }`. */
const isOpenEvolveModelList = (value: unknown) =>
  Array.isArray(value) && value.some((entry) => isRecord(entry) && "name" in entry && !("model" in entry))

/** True when `raw` is (also) an OpenEvolve config. */
export const detect = (raw: Raw): boolean => {
  if (Object.keys(raw).some((key) => openEvolveTopLevel.has(key))) return true
  const section = (name: string, keys: ReadonlySet<string>) => {
    const value = raw[name]
    return isRecord(value) && Object.keys(value).some((key) => keys.has(key))
  }
  return section("llm", openEvolveLlm) || section("evaluator", openEvolveEvaluator) ||
    section("database", openEvolveDatabase) || (isRecord(raw.llm) && isOpenEvolveModelList(raw.llm.models))
}

/** OpenEvolve's defaults that change behaviour when its file leaves them out. */
const openEvolveDefaultThresholds = [0.5, 0.75, 0.9]

export interface Mapped {
  /** An evolve config (still undecoded: the RunConfig schema validates it next). */
  readonly config: Raw
  readonly warnings: ReadonlyArray<string>
}

/** Keys evolve understands in each section, passed through unchanged when a file mixes formats. */
export interface EvolveKeys {
  readonly top: ReadonlySet<string>
  readonly llm: ReadonlySet<string>
  readonly evaluator: ReadonlySet<string>
  readonly database: ReadonlySet<string>
}

/** evolve's own keys, from the RunConfig schema. */
export const evolveKeys: EvolveKeys = {
  top: new Set(Object.keys(RunConfig.fields)),
  llm: new Set(Object.keys(LlmConfig.fields)),
  evaluator: new Set(Object.keys(EvaluatorConfig.fields)),
  database: new Set(["path"])
}

const envReference = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/

/**
 * Translates an OpenEvolve config into evolve's keys. `evolveKeys` (the RunConfig schema's
 * field names) decides which unknown keys are evolve's own and pass through.
 */
export const map = (raw: Raw, keys: EvolveKeys = evolveKeys): Mapped => {
  const out: Raw = {}
  const warnings: Array<string> = []
  const ignore = (key: string, why = "no equivalent in evolve") => warnings.push(`${key}: ignored (${why})`)
  const section = (name: string): Raw => {
    const value = out[name]
    if (isRecord(value)) return value
    const fresh: Raw = {}
    out[name] = fresh
    return fresh
  }

  // ---- top level ----
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case "llm":
      case "evaluator":
      case "database":
        break
      case "max_iterations":
        out.max_evaluations = value
        break
      case "random_seed":
        if (value !== null) out.seed = value
        break
      case "diff_based_evolution":
        out.edit_format = value === false ? "full" : "diff"
        break
      case "max_code_length":
        out.max_code_bytes = value
        break
      case "file_suffix":
      case "log_level":
      case "log_dir":
      case "checkpoint_interval":
        ignore(key, key === "file_suffix" ? "evolve takes the suffix from the program file" : "evolve logs and checkpoints every candidate in its database")
        break
      case "prompt":
        if (isRecord(value)) {
          for (const [sub, subValue] of Object.entries(value)) {
            if (sub === "system_message" && typeof subValue === "string" && subValue.trim() !== "") {
              if (raw.goal === undefined) out.goal = subValue.trim()
            } else ignore(`prompt.${sub}`, "evolve builds its own prompts")
          }
        }
        break
      default:
        if (keys.top.has(key)) out[key] = value
        else ignore(key)
    }
  }

  // ---- llm ----
  const llm = raw.llm
  if (isRecord(llm)) {
    const target = section("llm")
    const models: Array<Raw> = []
    const addModel = (name: unknown, weight: unknown, extra: Raw = {}) => {
      if (typeof name !== "string" || name === "") return
      models.push({ model: name, ...(typeof weight === "number" ? { weight } : {}), ...extra })
    }
    for (const [key, value] of Object.entries(llm)) {
      switch (key) {
        case "api_base":
          target.base_url = value
          break
        case "api_key":
          if (typeof value === "string" && envReference.test(value)) {
            target.api_key_env = envReference.exec(value)![1]
          } else if (value !== null && value !== undefined) {
            warnings.push(
              "llm.api_key: ignored (evolve never reads API keys from files; set the environment variable named by llm.api_key_env, OPENAI_API_KEY by default)"
            )
          }
          break
        case "temperature":
        case "max_tokens":
          if (value !== null) target[key] = value
          break
        case "timeout":
          target.timeout_seconds = value
          break
        case "retries":
          target.max_retries = value
          break
        case "top_p":
        case "reasoning_effort":
          if (value !== null) target.extra_body = { ...(isRecord(target.extra_body) ? target.extra_body : {}), [key]: value }
          break
        case "models":
          if (isOpenEvolveModelList(value)) {
            for (const entry of value as Array<unknown>) {
              if (!isRecord(entry)) continue
              const extra: Raw = {}
              if (typeof entry.api_base === "string") extra.base_url = entry.api_base
              if (typeof entry.temperature === "number") extra.temperature = entry.temperature
              if (typeof entry.max_tokens === "number") extra.max_tokens = entry.max_tokens
              if (typeof entry.timeout === "number") extra.timeout_seconds = entry.timeout
              if (typeof entry.retries === "number") extra.max_retries = entry.retries
              addModel(entry.name, entry.weight, extra)
            }
          } else target.models = value
          break
        case "primary_model":
          addModel(value, llm.primary_model_weight)
          break
        case "secondary_model":
          if (llm.secondary_model_weight === undefined || (llm.secondary_model_weight as number) > 0) {
            addModel(value, llm.secondary_model_weight ?? 0.2)
          }
          break
        case "primary_model_weight":
        case "secondary_model_weight":
          break
        case "retry_delay":
          ignore(`llm.${key}`, "evolve retries with exponential backoff and honours Retry-After")
          break
        case "evaluator_models":
          ignore(`llm.${key}`, "evolve has no LLM-judged metrics")
          break
        default:
          if (keys.llm.has(key)) target[key] = value
          else ignore(`llm.${key}`)
      }
    }
    if (models.length === 1) {
      target.model = models[0]!.model
      for (const [key, value] of Object.entries(models[0]!)) {
        if (key !== "model" && key !== "weight") target[key] = value
      }
    } else if (models.length > 1) {
      target.models = models
    }
    if (target.provider === undefined && (target.base_url !== undefined || models.length > 0)) {
      // OpenEvolve speaks OpenAI-compatible chat completions.
      target.provider = "openai-chat"
    }
  }

  // ---- evaluator ----
  const evaluator = section("evaluator")
  const evaluatorRaw = isRecord(raw.evaluator) ? raw.evaluator : {}
  for (const [key, value] of Object.entries(evaluatorRaw)) {
    switch (key) {
      case "timeout":
        evaluator.timeout_seconds = value
        break
      case "cascade_evaluation":
      case "cascade_thresholds":
        evaluator[key] = value
        break
      case "memory_limit_mb":
        if (value !== null) evaluator.memory_mb = value
        break
      case "parallel_evaluations":
        section("concurrency").evaluations = value
        break
      case "enable_artifacts":
        if (value === false) ignore(`evaluator.${key}`, "evolve always keeps artifacts")
        break
      case "max_retries":
        ignore(`evaluator.${key}`, "evolve never re-runs an evaluation; a failure is recorded with its reason")
        break
      default:
        if (keys.evaluator.has(key)) evaluator[key] = value
        else ignore(`evaluator.${key}`)
    }
  }
  evaluator.contract ??= "openevolve"
  if (evaluator.cascade_evaluation !== false && evaluator.cascade_thresholds === undefined) {
    evaluator.cascade_thresholds = openEvolveDefaultThresholds
  }

  // ---- database ----
  const database = raw.database
  if (isRecord(database)) {
    for (const [key, value] of Object.entries(database)) {
      if (key === "random_seed") {
        if (out.seed === undefined && value !== null) out.seed = value
      } else if (keys.database.has(key)) {
        section("database")[key] = value
      } else if (key === "db_path") {
        ignore(`database.${key}`, "evolve stores runs in the SQLite file database.path (--db)")
      } else if (key === "num_islands" || key === "migration_interval" || key === "migration_rate") {
        ignore(`database.${key}`, "evolve's population has no island settings")
      } else ignore(`database.${key}`)
    }
  }
  return { config: out, warnings }
}
