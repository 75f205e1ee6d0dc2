import { Schema } from "effect"
import { expected, PositiveInt, PositiveNumber, NonNegativeNumber, NonEmpty, EnvName, EnvPattern, Fraction, NonNegativeInt } from "./ConfigSchemas.js"
import { LlmConfig } from "./LlmConfig.js"

// The llm section lives in its own file; importers of RunConfig see it here too.
export { AgentConfig, EmbeddingConfig, LlmConfig, LlmModelConfig, ProviderName } from "./LlmConfig.js"

export const EvaluatorConfig = Schema.Struct({
  /** Command and arguments; the candidate's path is appended. Derived from the evaluator file when omitted. */
  command: Schema.optional(Schema.Array(NonEmpty).pipe(Schema.minItems(1, { message: expected("a non-empty list") }))),
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 60 }),
  kill_grace_seconds: Schema.optionalWith(NonNegativeNumber, { default: () => 2 }),
  output_cap_bytes: Schema.optionalWith(PositiveInt(1 << 30), { default: () => 1 << 20 }),
  /** Fitness when the evaluator reports no `combined_score`. */
  primary_metric: Schema.optionalWith(NonEmpty, { default: () => "score" }),
  keep_artifacts: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  // ---- evaluation contracts and sandbox (src/evaluate, issue 6) ----
  /**
   * command: run `command <candidate>`; openevolve: an evaluator.py defining evaluate(program_path);
   * shinka: `evaluate.py --program_path P --results_dir D` writing metrics.json / correct.json.
   */
  contract: Schema.optionalWith(Schema.Literal("command", "openevolve", "shinka"), {
    default: () => "command" as const
  }),
  /** Python interpreter for the openevolve and shinka contracts. */
  python: Schema.optionalWith(NonEmpty, { default: () => "python3" }),
  /**
   * Python contracts, and a `command` evaluator that is a Python script: load the interpreter (and the
   * evaluator's imports) once per worker and fork per candidate (false: cold start per candidate).
   */
  warm_pool: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Address-space limit (RLIMIT_AS) per candidate, in MiB. */
  memory_mb: Schema.optional(PositiveInt(1 << 24)),
  /** CPU-time limit (RLIMIT_CPU) per candidate, in seconds. */
  cpu_seconds: Schema.optional(PositiveNumber),
  /** bwrap: run evaluations inside bubblewrap (no network, read-only filesystem, writable temp dir). */
  sandbox: Schema.optionalWith(Schema.Literal("none", "bwrap"), { default: () => "none" as const }),
  /** openevolve: run evaluate_stage1/2/3 as a cascade when the evaluator defines them. */
  cascade_evaluation: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Stage k+1 runs only when the score after stage k reaches cascade_thresholds[k-1]. */
  cascade_thresholds: Schema.optionalWith(
    Schema.Array(Schema.Number.pipe(Schema.finite({ message: expected("a finite number") }))),
    { default: () => [] }
  ),
  /** Variables set in the evaluator's environment (over the allow-list and `pass_env`). */
  env: Schema.optionalWith(Schema.Record({ key: EnvName, value: Schema.String }), { default: () => ({}) }),
  /**
   * Names of evolve's environment variables passed to the evaluator; `*` and `?` globs allowed.
   * A glob never matches the API key variables of evolve's own LLM (or EVOLVE_*): name them exactly.
   */
  pass_env: Schema.optionalWith(Schema.Array(EnvPattern), { default: () => [] }),
  /**
   * The evaluator's working directory: `evaluator` (its file's directory, as OpenEvolve runs it)
   * or `candidate` (the candidate's temp dir, evolve's behaviour before). The candidate's file
   * is in its own temp dir either way.
   */
  working_dir: Schema.optionalWith(Schema.Literal("evaluator", "candidate"), { default: () => "evaluator" as const }),
  // ---- end evaluation contracts ----
  /** In a cluster: only workers with every one of these tags (`evolve worker --tags`) evaluate this run. */
  requires: Schema.optionalWith(Schema.Array(NonEmpty), { default: () => [] })
})
export type EvaluatorConfig = typeof EvaluatorConfig.Type

export const ConcurrencyConfig = Schema.Struct({
  /** P: proposals (LLM calls) in flight. */
  proposals: Schema.optionalWith(PositiveInt(4096), { default: () => 4 }),
  /** W: evaluations in flight. */
  evaluations: Schema.optionalWith(PositiveInt(1024), { default: () => 2 }),
  /** Capacity of the queue of proposed candidates waiting for an evaluator; defaults to W. */
  queue: Schema.optional(PositiveInt(1 << 16))
})
export type ConcurrencyConfig = typeof ConcurrencyConfig.Type

export const EditFormat = Schema.Literal("diff", "full")

// ---- Search: population, prompts, edits, novelty, stop rules (issue 5) ----------------------


/** How a parent is picked from an island (or from its MAP-Elites grid when one is configured). */
export const SelectionStrategy = Schema.Literal("power_law", "fitness_weighted", "hill_climb", "beam", "uniform", "mix")
export type SelectionStrategy = typeof SelectionStrategy.Type

/**
 * One MAP-Elites feature dimension: a metric the evaluator reports, or a built-in:
 * `code_length` (characters) or `edit_distance` (mean token edit distance to the island's elites).
 * Values are binned between `min` and `max`, by default the smallest and largest seen so far.
 */
export const FeatureConfig = Schema.Struct({
  name: NonEmpty,
  bins: Schema.optionalWith(PositiveInt(1000), { default: () => 10 }),
  min: Schema.optional(Schema.Number.pipe(Schema.finite({ message: expected("a finite number") }))),
  max: Schema.optional(Schema.Number.pipe(Schema.finite({ message: expected("a finite number") })))
})
export type FeatureConfig = typeof FeatureConfig.Type

export const Direction = Schema.Literal("maximize", "minimize")
export type Direction = typeof Direction.Type

export const ObjectiveConfig = Schema.Struct({
  metric: NonEmpty,
  direction: Schema.optionalWith(Direction, { default: () => "maximize" as const })
})
export type ObjectiveConfig = typeof ObjectiveConfig.Type

export const InspirationsConfig = Schema.Struct({
  /** The island's best programs (other than the parent). */
  top: Schema.optionalWith(NonNegativeInt(32), { default: () => 2 }),
  /** Diverse ones: migrants from the neighbouring island, elites of other MAP-Elites cells, random members. */
  diverse: Schema.optionalWith(NonNegativeInt(32), { default: () => 2 })
})
export type InspirationsConfig = typeof InspirationsConfig.Type

export const MapElitesConfig = Schema.Struct({
  features: Schema.Array(FeatureConfig).pipe(
    Schema.minItems(1, { message: expected("1 to 4 features") }),
    Schema.maxItems(4, { message: expected("1 to 4 features") })
  ),
  /** How many of the island's best programs the `edit_distance` feature compares against. */
  reference_programs: Schema.optionalWith(PositiveInt(64), { default: () => 4 })
})
export type MapElitesConfig = typeof MapElitesConfig.Type

export const PopulationConfig = Schema.Struct({
  islands: Schema.optionalWith(PositiveInt(1024), { default: () => 1 }),
  /** Ring migration every this many evaluations (0: never). */
  migration_interval: Schema.optionalWith(NonNegativeInt(100_000_000), { default: () => 50 }),
  /** Share of an island's own programs (best first) copied to the next island at each migration. */
  migration_fraction: Schema.optionalWith(Fraction, { default: () => 0.1 }),
  selection: Schema.optionalWith(SelectionStrategy, { default: () => "mix" as const }),
  /** power_law (and mix's exploitation): P(rank r) ∝ (r + 1)^-alpha. */
  power_law_alpha: Schema.optionalWith(NonNegativeNumber, { default: () => 1 }),
  /** mix: probability of exploiting (power law over rank); otherwise explore (uniform, or a random MAP-Elites cell). */
  exploitation: Schema.optionalWith(Fraction, { default: () => 0.7 }),
  /** beam: parents are drawn uniformly from the best `beam_width`. */
  beam_width: Schema.optionalWith(PositiveInt(100_000), { default: () => 8 }),
  /** fitness_weighted: weight = sigmoid(sharpness · (score − median) / spread) / (1 + reuse_penalty · times used). */
  reuse_penalty: Schema.optionalWith(NonNegativeNumber, { default: () => 1 }),
  weight_sharpness: Schema.optionalWith(PositiveNumber, { default: () => 10 }),
  /** With `objectives`: probability that a parent is drawn from the island's Pareto front instead. */
  pareto_share: Schema.optionalWith(Fraction, { default: () => 0 }),
  inspirations: Schema.optionalWith(InspirationsConfig, { default: () => InspirationsConfig.make({}) }),
  map_elites: Schema.optional(MapElitesConfig),
  /** Multi-objective: metrics to maximise or minimise; the run keeps their Pareto front. */
  objectives: Schema.optional(
    Schema.Array(ObjectiveConfig).pipe(Schema.minItems(1, { message: expected("a non-empty list") }))
  )
})
export type PopulationConfig = typeof PopulationConfig.Type

export const PromptConfig = Schema.Struct({
  /** Replace the built-in system prompt (`{{placeholders}}`, see the README). Inline text or a file. */
  system_template: Schema.optional(Schema.String),
  system_template_file: Schema.optional(NonEmpty),
  /** Replace the built-in user prompt; the current program is always its last code block. */
  user_template: Schema.optional(Schema.String),
  user_template_file: Schema.optional(NonEmpty),
  /** Instruction variants, one picked at random per proposal (default: a built-in list). */
  instructions: Schema.optional(Schema.Array(NonEmpty).pipe(Schema.minItems(1, { message: expected("a non-empty list") }))),
  /** Pick a different instruction per proposal (false: always the first). */
  vary_instructions: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Weakness analysis caps: failures listed, characters per failure, feedback tail, whole section. */
  max_failures: Schema.optionalWith(NonNegativeInt(100), { default: () => 5 }),
  max_failure_chars: Schema.optionalWith(PositiveInt(100_000), { default: () => 300 }),
  max_feedback_chars: Schema.optionalWith(NonNegativeInt(1_000_000), { default: () => 1500 }),
  max_weakness_chars: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 4000 }),
  max_inspiration_chars: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 4000 })
})
export type PromptConfig = typeof PromptConfig.Type

export const NoveltyConfig = Schema.Struct({
  /** Reject a candidate whose embedding has cosine similarity ≥ this with a program of its island. */
  embedding_threshold: Schema.optional(
    Schema.Number.pipe(Schema.between(0, 1, { message: expected("a number from 0 to 1") }))
  ),
  /** How many of the island's programs (parent, inspirations, best) the candidate is compared with. */
  compare_with: Schema.optionalWith(PositiveInt(1000), { default: () => 16 }),
  /** Ask the LLM whether a too-similar candidate is still meaningfully different before rejecting it. */
  llm_judge: Schema.optionalWith(Schema.Boolean, { default: () => false })
})
export type NoveltyConfig = typeof NoveltyConfig.Type

export const SearchConfig = Schema.Struct({
  /** A reply that does not apply (or fails validation) goes back to the model with the reason this many times. */
  max_patch_retries: Schema.optionalWith(NonNegativeInt(20), { default: () => 2 }),
  /** Names that must stay defined in every candidate (function, class, variable definitions). */
  required_symbols: Schema.optionalWith(Schema.Array(NonEmpty), { default: () => [] }),
  novelty: Schema.optional(NoveltyConfig),
  /**
   * Adaptive search (issue 17): a stalled island explores more (parents, temperature, full
   * rewrites) and gets the best island's best; when every island stalls, a paradigm-shift
   * proposal; meta-notes in later prompts. false: a fixed strategy.
   */
  adaptive: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** An island stalls after this many of its evaluations without a better best (at least; the window grows with its history). */
  stall_window: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 20 }),
  /** Every this many evaluations, one LLM call writes a meta-note on the search for later prompts (0: never). */
  meta_note_every: Schema.optionalWith(NonNegativeInt(1_000_000), { default: () => 50 })
})
export type SearchConfig = typeof SearchConfig.Type

/** A per-metric target: a number means "at least"; or `{ at_least }` / `{ at_most }`. */
export const MetricTarget = Schema.Union(
  Schema.Number,
  Schema.Struct({ at_least: Schema.optional(Schema.Number), at_most: Schema.optional(Schema.Number) })
)
export type MetricTarget = typeof MetricTarget.Type

// ---- end Search ------------------------------------------------------------------------------

// ---- FilesConfig (a program that is a directory, issue 18) ----------------------------------
export const FilesConfig = Schema.Struct({
  /** Globs (gitignore style) of the files that make up the program; default: every file. */
  include: Schema.optional(Schema.Array(NonEmpty)),
  /** Globs of files left out (on top of .gitignore, .git, node_modules, __pycache__, .evolve). */
  exclude: Schema.optionalWith(Schema.Array(NonEmpty), { default: () => [] }),
  /** "markers": only files with EVOLVE-BLOCK markers are edited, the others are context; "all": every file. */
  editable: Schema.optionalWith(Schema.Literal("markers", "all"), { default: () => "markers" as const }),
  max_files: Schema.optionalWith(PositiveInt(100_000), { default: () => 200 }),
  max_bytes: Schema.optionalWith(PositiveInt(1 << 28), { default: () => 2 * 1024 * 1024 }),
  /** May an edit add a new file, or delete one? */
  allow_new_files: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  allow_delete_files: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Characters of context files (not editable) shown in a prompt. */
  context_chars: Schema.optionalWith(NonNegativeInt(10_000_000), { default: () => 20_000 })
})
export type FilesConfig = typeof FilesConfig.Type

export const RunConfig = Schema.Struct({
  goal: Schema.optionalWith(Schema.String, { default: () => "Improve the program's score." }),
  language: Schema.optional(NonEmpty),
  seed: Schema.optionalWith(Schema.Int, { default: () => 42 }),
  max_evaluations: Schema.optionalWith(PositiveInt(100_000_000), { default: () => 100 }),
  target_score: Schema.optional(Schema.Number.pipe(Schema.finite({ message: expected("a finite number") }))),
  /** Stop when committed plus in-flight estimated LLM cost reaches this many USD. */
  budget_usd: Schema.optional(PositiveNumber),
  max_wall_seconds: Schema.optional(PositiveNumber),
  /** Stop when the best score has not improved for this many evaluations. */
  patience: Schema.optional(PositiveInt(100_000_000)),
  /** Stop when one program meets every per-metric target at once. */
  target_metrics: Schema.optional(Schema.Record({ key: Schema.String, value: MetricTarget })),
  /** Stop after this many consecutive failed proposals (LLM or patch errors): the model is unusable. */
  max_consecutive_proposal_failures: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 50 }),
  /**
   * LLM proposals a session may make beyond the evaluations it has left, as a share of them (plus
   * one round of P): 1 allows twice as many proposals as evaluations; then the run stops.
   */
  proposal_margin: Schema.optionalWith(NonNegativeNumber, { default: () => 1 }),
  /** Go on when the initial program fails (the LLM is asked to fix it); by default the run stops before any LLM call. */
  allow_failing_initial: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** On SIGINT/SIGTERM, in-flight evaluations get this long to finish before they are interrupted. */
  shutdown_grace_seconds: Schema.optionalWith(NonNegativeNumber, { default: () => 10 }),
  edit_format: Schema.optionalWith(EditFormat, { default: () => "diff" as const }),
  max_code_bytes: Schema.optionalWith(PositiveInt(1 << 26), { default: () => 256 * 1024 }),
  files: Schema.optionalWith(FilesConfig, { default: () => FilesConfig.make({}) }),
  concurrency: Schema.optionalWith(ConcurrencyConfig, { default: () => ConcurrencyConfig.make({}) }),
  llm: Schema.optionalWith(LlmConfig, { default: () => LlmConfig.make({}) }),
  evaluator: Schema.optionalWith(EvaluatorConfig, { default: () => EvaluatorConfig.make({}) }),
  population: Schema.optionalWith(PopulationConfig, { default: () => PopulationConfig.make({}) }),
  prompt: Schema.optionalWith(PromptConfig, { default: () => PromptConfig.make({}) }),
  search: Schema.optionalWith(SearchConfig, { default: () => SearchConfig.make({}) }),
  database: Schema.optionalWith(
    Schema.Struct({ path: Schema.optionalWith(NonEmpty, { default: () => ".evolve/evolve.db" }) }),
    { default: () => ({ path: ".evolve/evolve.db" }) }
  )
})
export type RunConfig = typeof RunConfig.Type
export type RunConfigInput = typeof RunConfig.Encoded

/** What a run evolves: resolved paths plus the validated config. Stored with the run for `resume`. */
export const RunSpec = Schema.Struct({
  programPath: Schema.String,
  evaluatorPath: Schema.String,
  config: RunConfig
})
export type RunSpec = typeof RunSpec.Type
