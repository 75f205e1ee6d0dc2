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

import { EvaluatorConfig, LlmConfig, PromptConfig, RunConfig } from "../domain/RunConfig.js"
import * as AgentPresets from "./AgentPresets.js"
import { openEvolveDatabase, openEvolveEvaluator, openEvolveLlm, openEvolveTopLevel } from "./OpenEvolveKeys.js"

type Raw = Record<string, unknown>

const isRecord = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value)

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
  // Both formats have a `prompt` section: OpenEvolve's is told by a key evolve's lacks (system_message, …).
  const prompt = raw.prompt
  const openEvolvePrompt = isRecord(prompt) && Object.keys(prompt).some((key) => !evolveKeys.prompt.has(key))
  return openEvolvePrompt || section("llm", openEvolveLlm) || section("evaluator", openEvolveEvaluator) ||
    section("database", openEvolveDatabase) || (isRecord(raw.llm) && isOpenEvolveModelList(raw.llm.models))
}

/** OpenEvolve's defaults that change behaviour when its file leaves them out. */
const openEvolveDefaultThresholds = [0.5, 0.75, 0.9]

/** A key of the file evolve does not use, and why. */
export interface Ignored {
  readonly key: string
  readonly why: string
}

export interface Mapped {
  /** An evolve config (still undecoded: the RunConfig schema validates it next). */
  readonly config: Raw
  /** Keys with no meaning in evolve (one summary line; `--verbose` lists them). */
  readonly ignored: ReadonlyArray<Ignored>
  /** What the user should hear about even without `--verbose`. */
  readonly warnings: ReadonlyArray<string>
  /** evolve's key path → the file's own key path, so errors name what the user wrote. */
  readonly sources: ReadonlyMap<string, string>
}

/** Keys evolve understands in each section, passed through unchanged when a file mixes formats. */
export interface EvolveKeys {
  readonly top: ReadonlySet<string>
  readonly llm: ReadonlySet<string>
  readonly evaluator: ReadonlySet<string>
  readonly database: ReadonlySet<string>
  readonly prompt: ReadonlySet<string>
}

/** evolve's own keys, from the RunConfig schema. */
export const evolveKeys: EvolveKeys = {
  top: new Set(Object.keys(RunConfig.fields)),
  llm: new Set(Object.keys(LlmConfig.fields)),
  evaluator: new Set(Object.keys(EvaluatorConfig.fields)),
  database: new Set(["path"]),
  prompt: new Set(Object.keys(PromptConfig.fields))
}

const envReference = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/

/** OpenEvolve's built-in MAP-Elites features, by evolve's name for them. */
const builtInFeatures: Record<string, string> = { complexity: "code_length", diversity: "edit_distance", score: "combined_score" }

/** OpenEvolve's model keys evolve maps, by evolve's name. */
const modelKeys: Record<string, string> = {
  api_base: "base_url",
  temperature: "temperature",
  max_tokens: "max_tokens",
  timeout: "timeout_seconds",
  retries: "max_retries"
}

/**
 * `llm.provider: claude_code` runs Claude Code as evolve's coding agent (provider agent): one
 * command line per model (`--model`); returns the warning naming what will run.
 */
const claudeCodeAgents = (llm: Raw): Array<string> => {
  const models = Array.isArray(llm.models) ? llm.models.filter(isRecord) : []
  const commands: Array<string> = []
  const agentFor = (owner: Raw) => {
    owner.agent ??= AgentPresets.claudeCode(typeof owner.model === "string" ? owner.model : undefined)
    const command = isRecord(owner.agent) && Array.isArray(owner.agent.command) ? owner.agent.command : []
    commands.push(command.join(" "))
  }
  if (models.length > 0) models.forEach(agentFor)
  else agentFor(llm)
  return [
    `llm.provider: claude_code runs the coding agent \`${commands.join("`, `")}\` (evolve's provider agent) in a scratch copy ` +
    `of each parent, prompt on stdin, with only ${AgentPresets.claudeCodeKeys.join(" and ")} of your environment; set llm.agent to run another command`
  ]
}

/** OpenEvolve leaves a key unset with an empty string or null (`api_base: ""` in sldbench). */
const unset = (value: unknown) => value === null || value === undefined || value === ""

/**
 * Translates an OpenEvolve config into evolve's keys. `evolveKeys` (the RunConfig schema's
 * field names) decides which unknown keys are evolve's own and pass through.
 */
export const map = (raw: Raw, keys: EvolveKeys = evolveKeys): Mapped => {
  const out: Raw = {}
  const ignored: Array<Ignored> = []
  const warnings: Array<string> = []
  const sources = new Map<string, string>()
  const ignore = (key: string, why = "no equivalent in evolve") => ignored.push({ key, why })
  const section = (name: string, parent: Raw = out): Raw => {
    const value = parent[name]
    if (isRecord(value)) return value
    const fresh: Raw = {}
    parent[name] = fresh
    return fresh
  }
  /** Sets evolve's `path` from the file's key `from`. */
  const put = (path: ReadonlyArray<string>, from: string, value: unknown) => {
    let node = out
    for (const key of path.slice(0, -1)) node = section(key, node)
    node[path[path.length - 1]!] = value
    sources.set(path.join("."), from)
  }

  // ---- top level ----
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case "llm":
      case "evaluator":
      case "database":
        break
      case "max_iterations":
        put(["max_evaluations"], key, value)
        break
      case "random_seed":
        if (!unset(value)) put(["seed"], key, value)
        break
      case "diff_based_evolution":
        put(["edit_format"], key, value === false ? "full" : "diff")
        break
      case "max_code_length":
        put(["max_code_bytes"], key, value)
        break
      case "early_stopping_patience":
        // OpenEvolve stops early only for a positive patience (arc_benchmark sets -1: never).
        if (!unset(value) && !(typeof value === "number" && value <= 0)) put(["patience"], key, value)
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
              if (raw.goal === undefined) put(["goal"], "prompt.system_message", subValue.trim())
            } else if (keys.prompt.has(sub)) section("prompt")[sub] = subValue
            else ignore(`prompt.${sub}`, "evolve builds its own prompts")
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
  let claudeCode = false
  if (isRecord(llm)) {
    const target = section("llm")
    const models: Array<{ entry: Raw; sources: Map<string, string> }> = []
    /** A model from its name and weight (the file's keys `nameKey`, `${nameKey}_weight` or `from`-prefixed). */
    const addModel = (name: unknown, weight: unknown, from: string, entry: Raw = {}) => {
      if (typeof name !== "string" || name === "") return
      const model: Raw = { model: name, ...(typeof weight === "number" ? { weight } : {}) }
      const named = !from.endsWith(".")
      const modelSources = new Map([["model", named ? from : `${from}name`], ["weight", named ? `${from}_weight` : `${from}weight`]])
      for (const [key, value] of Object.entries(entry)) {
        if (key === "name" || key === "weight" || unset(value)) continue
        const evolveKey = modelKeys[key]
        if (evolveKey !== undefined) {
          model[evolveKey] = value
          modelSources.set(evolveKey, `${from}${key}`)
        } else if (key === "max_budget_usd") {
          warnings.push(`${from}${key}: ignored (evolve's budget is per run: set budget_usd)`)
        } else ignore(`${from}${key}`)
      }
      models.push({ entry: model, sources: modelSources })
    }
    for (const [key, value] of Object.entries(llm)) {
      switch (key) {
        case "api_base":
          if (!unset(value)) put(["llm", "base_url"], "llm.api_base", value)
          break
        case "provider":
          claudeCode = value === "claude_code"
          if (!unset(value)) {
            put(["llm", "provider"], "llm.provider", value === "openai" ? "openai-chat" : claudeCode ? "agent" : value)
          }
          break
        case "api_key":
          if (typeof value === "string" && envReference.test(value)) {
            put(["llm", "api_key_env"], "llm.api_key", envReference.exec(value)![1])
          } else if (!unset(value)) {
            warnings.push(
              "llm.api_key: ignored (evolve never reads API keys from files; set the environment variable named by llm.api_key_env, OPENAI_API_KEY by default)"
            )
          }
          break
        case "temperature":
        case "max_tokens":
          if (!unset(value)) put(["llm", key], `llm.${key}`, value)
          break
        case "timeout":
          put(["llm", "timeout_seconds"], "llm.timeout", value)
          break
        case "retries":
          put(["llm", "max_retries"], "llm.retries", value)
          break
        case "top_p":
        case "reasoning_effort":
          if (!unset(value)) target.extra_body = { ...(isRecord(target.extra_body) ? target.extra_body : {}), [key]: value }
          break
        case "models":
          if (isOpenEvolveModelList(value)) {
            ;(value as Array<unknown>).forEach((entry, i) => {
              if (isRecord(entry)) addModel(entry.name, entry.weight, `llm.models.${i}.`, entry)
            })
          } else target.models = value
          break
        case "primary_model":
          addModel(value, llm.primary_model_weight, "llm.primary_model")
          break
        case "secondary_model":
          if (llm.secondary_model_weight === undefined || (llm.secondary_model_weight as number) > 0) {
            addModel(value, llm.secondary_model_weight ?? 0.2, "llm.secondary_model")
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
      const { entry, sources: own } = models[0]!
      for (const [key, value] of Object.entries(entry)) {
        if (key !== "weight") put(["llm", key], own.get(key)!, value)
      }
    } else if (models.length > 1) {
      target.models = models.map((m) => m.entry)
      models.forEach((m, i) => {
        for (const [key, from] of m.sources) sources.set(`llm.models.${i}.${key}`, from)
      })
    }
  }
  // OpenEvolve always calls an OpenAI-compatible chat completions endpoint (it has no offline mode).
  section("llm").provider ??= "openai-chat"
  if (claudeCode) warnings.push(...claudeCodeAgents(section("llm")))

  // ---- evaluator ----
  const evaluator = section("evaluator")
  const evaluatorRaw = isRecord(raw.evaluator) ? raw.evaluator : {}
  for (const [key, value] of Object.entries(evaluatorRaw)) {
    switch (key) {
      case "timeout":
        put(["evaluator", "timeout_seconds"], "evaluator.timeout", value)
        break
      case "cascade_evaluation":
      case "cascade_thresholds":
        put(["evaluator", key], `evaluator.${key}`, value)
        break
      case "memory_limit_mb":
        if (!unset(value)) put(["evaluator", "memory_mb"], "evaluator.memory_limit_mb", value)
        break
      case "parallel_evaluations":
        put(["concurrency", "evaluations"], "evaluator.parallel_evaluations", value)
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
      const from = `database.${key}`
      switch (key) {
        case "random_seed":
          if (out.seed === undefined && !unset(value)) put(["seed"], from, value)
          break
        case "num_islands":
          put(["population", "islands"], from, value)
          break
        case "migration_interval":
          put(["population", "migration_interval"], from, value)
          break
        case "migration_rate":
          put(["population", "migration_fraction"], from, value)
          break
        case "exploitation_ratio":
          put(["population", "exploitation"], from, value)
          break
        case "feature_dimensions":
          if (Array.isArray(value) && value.length > 0) {
            const bins = database.feature_bins
            const features = value.map((name) => ({
              name: typeof name === "string" ? builtInFeatures[name] ?? name : name,
              ...(typeof bins === "number" ? { bins } : isRecord(bins) && typeof bins[String(name)] === "number" ? { bins: bins[String(name)] } : {})
            }))
            put(["population", "map_elites", "features"], from, features)
          }
          break
        case "feature_bins":
          break
        case "log_prompts":
          put(["llm", "log_prompts"], from, value)
          break
        case "db_path":
          ignore(from, "evolve stores runs in the SQLite file database.path (--db)")
          break
        default:
          if (keys.database.has(key)) section("database")[key] = value
          else ignore(from)
      }
    }
  }
  return { config: out, ignored, warnings, sources }
}
