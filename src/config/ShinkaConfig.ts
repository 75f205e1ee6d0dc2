/**
 * Reads a ShinkaEvolve run config (`shinka_small.yaml`, the YAML `shinka_run --config` takes) as
 * an evolve config, so a Shinka example directory runs with
 * `evolve run initial.py evaluate.py --config shinka_small.yaml`.
 *
 * `detect` recognises the format by its top-level keys (`max_evaluation_jobs`, `db_config`,
 * `evo_config`, `job_config`, or their short forms `db`, `evo`, `job`). `map` translates what
 * has a meaning in evolve, implies `evaluator.contract: shinka`, and returns the keys it ignores
 * (one summary line, like an OpenEvolve config's) apart from the warnings: values evolve reads
 * differently from Shinka.
 */
import type { Ignored } from "./OpenEvolveConfig.js"

type Raw = Record<string, unknown>

const isRecord = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const runnerKeys = new Set(["max_evaluation_jobs", "max_proposal_jobs", "max_db_workers", "verbose", "debug"])
const sectionAliases: Record<string, "evo" | "db" | "job"> = {
  evo_config: "evo",
  db_config: "db",
  job_config: "job",
  evo: "evo",
  db: "db",
  job: "job"
}

/** True when `raw` is a Shinka run config. */
export const detect = (raw: Raw): boolean =>
  Object.keys(raw).some((key) => runnerKeys.has(key) && key !== "verbose" && key !== "debug" || key in sectionAliases)

/** Shinka's parent selection strategies → evolve's `population.selection`. */
const selections: Record<string, string> = {
  power_law: "power_law",
  weighted: "fitness_weighted",
  beam_search: "beam",
  best_of_n: "hill_climb"
}

/** `HH:MM:SS` (a job's `time`) in seconds, or undefined. */
const seconds = (value: unknown): number | undefined => {
  if (typeof value === "number") return value
  if (typeof value !== "string") return undefined
  const parts = value.trim().split(":").map(Number)
  if (parts.length === 0 || parts.length > 3 || parts.some((n) => !Number.isFinite(n))) return undefined
  return parts.reduce((total, n) => total * 60 + n, 0)
}

const first = (value: unknown): unknown => Array.isArray(value) ? value[0] : value

export interface Mapped {
  /** An evolve config (still undecoded: the RunConfig schema validates it next). */
  readonly config: Raw
  /** Keys with no meaning in evolve. */
  readonly ignored: ReadonlyArray<Ignored>
  /** Values evolve takes in part or not at all although they change the search. */
  readonly warnings: ReadonlyArray<string>
}

/** Translates a Shinka run config into evolve's keys. */
export const map = (raw: Raw): Mapped => {
  const out: Raw = {}
  const ignored: Array<Ignored> = []
  const warnings: Array<string> = []
  const ignore = (key: string, why = "no equivalent in evolve") => ignored.push({ key, why })
  const warn = (key: string, why: string) => warnings.push(`${key}: ignored (${why})`)
  const section = (...path: ReadonlyArray<string>): Raw => {
    let node = out
    for (const key of path) {
      if (!isRecord(node[key])) node[key] = {}
      node = node[key] as Raw
    }
    return node
  }
  const sections: Partial<Record<"evo" | "db" | "job", Raw>> = {}

  for (const [key, value] of Object.entries(raw)) {
    const alias = sectionAliases[key]
    if (alias !== undefined) {
      if (isRecord(value)) sections[alias] = { ...sections[alias], ...value }
      continue
    }
    switch (key) {
      case "max_evaluation_jobs":
        section("concurrency").evaluations = value
        break
      case "max_proposal_jobs":
        section("concurrency").proposals = value
        break
      case "max_db_workers":
        ignore(key, "evolve writes its database from one fiber")
        break
      default:
        ignore(key)
    }
  }

  // ---- db_config ----
  const db = sections.db ?? {}
  const population = () => section("population")
  for (const [key, value] of Object.entries(db)) {
    const name = `db_config.${key}`
    switch (key) {
      case "num_islands":
        population().islands = value
        break
      case "migration_interval":
        population().migration_interval = value
        break
      case "migration_rate":
        population().migration_fraction = value
        break
      case "num_top_k_inspirations":
        section("population", "inspirations").top = value
        break
      case "num_archive_inspirations":
        section("population", "inspirations").diverse = value
        break
      case "parent_selection_strategy":
        if (typeof value === "string" && selections[value] !== undefined) population().selection = selections[value]
        else warn(name, `evolve has no ${JSON.stringify(value)} selection; population.selection stays`)
        break
      case "parent_selection_lambda":
        population().weight_sharpness = value
        break
      case "exploitation_alpha":
        population().power_law_alpha = value
        break
      case "num_beams":
        population().beam_width = value
        break
      case "db_path":
        ignore(name, "evolve stores runs in the SQLite file database.path (--db)")
        break
      default:
        ignore(name)
    }
  }

  // ---- evo_config ----
  const evo = sections.evo ?? {}
  const llm = () => section("llm")
  for (const [key, value] of Object.entries(evo)) {
    const name = `evo_config.${key}`
    switch (key) {
      case "task_sys_msg":
        if (typeof value === "string" && value.trim() !== "") out.goal = value.trim()
        break
      case "num_generations":
        out.max_evaluations = value
        break
      case "max_api_costs":
        if (value !== null) out.budget_usd = value
        break
      case "language":
        if (value !== null) out.language = value
        break
      case "patch_types":
        if (Array.isArray(value)) {
          if (value.includes("diff") || value.includes("full")) out.edit_format = value.includes("diff") ? "diff" : "full"
          if (value.includes("cross")) warn(`${name}: cross`, "evolve has no crossover edits")
        }
        break
      case "patch_type_probs":
        ignore(name, "evolve uses one edit format (edit_format), diff when patch_types has diff")
        break
      case "max_patch_attempts":
        if (typeof value === "number") section("search").max_patch_retries = Math.max(0, value - 1)
        break
      case "llm_models":
        if (Array.isArray(value) && value.length > 0) {
          llm().models = value.filter((m) => typeof m === "string" && m !== "").map((model) => ({ model }))
        }
        break
      case "llm_kwargs":
        if (isRecord(value)) {
          for (const [sub, subValue] of Object.entries(value)) {
            if (sub === "max_tokens") llm().max_tokens = subValue
            else if (sub === "temperatures" && first(subValue) !== undefined) {
              llm().temperature = first(subValue)
              if (Array.isArray(subValue) && subValue.length > 1) {
                warn(`${name}.temperatures[1:]`, `evolve samples one temperature per model; took ${String(subValue[0])}`)
              }
            } else ignore(`${name}.${sub}`)
          }
        }
        break
      case "llm_dynamic_selection":
        if (typeof value === "string" && value.startsWith("ucb")) llm().selection = "bandit"
        else if (value !== null) ignore(name, "evolve's ensembles pick by weight or by a cost-aware UCB bandit")
        break
      case "llm_dynamic_selection_kwargs":
        if (isRecord(value) && typeof value.exploration_coef === "number") llm().bandit_exploration = value.exploration_coef
        for (const sub of Object.keys(isRecord(value) ? value : {})) {
          if (sub !== "exploration_coef") ignore(`${name}.${sub}`)
        }
        break
      case "init_program_path":
      case "results_dir":
        ignore(name, "evolve takes the program from the command line and keeps results in its database")
        break
      case "job_type":
        if (value !== "local") ignore(name, "evolve runs evaluations locally, or on `evolve worker` processes")
        break
      case "use_text_feedback":
        ignore(name, "evolve always shows the evaluator's text feedback to the model")
        break
      case "embedding_model":
      case "code_embed_sim_threshold":
        if (value !== null) ignore(name, "set llm.embedding and search.novelty.embedding_threshold for evolve's novelty filter")
        break
      default:
        if (value !== null && value !== false) ignore(name)
    }
  }

  // ---- job_config ----
  for (const [key, value] of Object.entries(sections.job ?? {})) {
    const timeout = key === "time" ? seconds(value) : undefined
    if (timeout !== undefined) section("evaluator").timeout_seconds = timeout
    else if (key === "eval_program_path") ignore(`job_config.${key}`, "evolve takes the evaluator from the command line")
    else ignore(`job_config.${key}`)
  }

  if (isRecord(out.llm) && Array.isArray(out.llm.models) && out.llm.models.length === 1) {
    out.llm.model = (out.llm.models[0] as Raw).model
    delete out.llm.models
  }
  if (isRecord(out.llm) && (out.llm.models !== undefined || out.llm.model !== undefined) && out.llm.provider === undefined) {
    // Shinka's models are called through OpenAI-compatible APIs (its own provider routing is not reproduced).
    out.llm.provider = "openai-chat"
  }
  section("evaluator").contract = "shinka"
  return { config: out, ignored, warnings }
}

/**
 * True when an evaluator's source takes Shinka's command line (`--program_path` and
 * `--results_dir`): the Shinka contract, with no config saying so.
 */
export const takesShinkaArguments = (source: string): boolean =>
  /["']--program_path["']/.test(source) && /["']--results_dir["']/.test(source)
