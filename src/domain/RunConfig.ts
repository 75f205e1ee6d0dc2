import { type ParseResult, Schema } from "effect"

/** "expected …, got …" for refinements, so config errors say what was given. */
const expected = (what: string) => (issue: ParseResult.ParseIssue) =>
  `expected ${what}, got ${JSON.stringify(issue.actual)}`

const PositiveInt = (max: number) =>
  Schema.Int.pipe(Schema.between(1, max, { message: expected(`an integer from 1 to ${max}`) }))
const PositiveNumber = Schema.Number.pipe(
  Schema.positive({ message: expected("a positive number") }),
  Schema.finite({ message: expected("a finite number") })
)
const NonNegativeNumber = Schema.Number.pipe(
  Schema.nonNegative({ message: expected("a number ≥ 0") }),
  Schema.finite({ message: expected("a finite number") })
)
const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: expected("a non-empty string") }))

export const ProviderName = Schema.Literal("offline", "openai-chat")
export type ProviderName = typeof ProviderName.Type

export const LlmConfig = Schema.Struct({
  provider: Schema.optionalWith(ProviderName, { default: () => "offline" as const }),
  model: Schema.optionalWith(NonEmpty, { default: () => "gpt-4o-mini" }),
  base_url: Schema.optionalWith(NonEmpty, { default: () => "https://api.openai.com/v1" }),
  /** Name of the environment variable holding the API key (the key itself never goes in a file). */
  api_key_env: Schema.optionalWith(NonEmpty, { default: () => "OPENAI_API_KEY" }),
  temperature: Schema.optionalWith(
    Schema.Number.pipe(Schema.between(0, 2, { message: expected("a number from 0 to 2") })),
    { default: () => 0.7 }
  ),
  max_tokens: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 4096 }),
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 120 }),
  max_retries: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(0, 20, { message: expected("an integer from 0 to 20") })),
    { default: () => 5 }
  ),
  /** Per-1M-token prices in USD, used for cost accounting. */
  price_input_per_m: Schema.optionalWith(NonNegativeNumber, { default: () => 0 }),
  price_output_per_m: Schema.optionalWith(NonNegativeNumber, { default: () => 0 })
})
export type LlmConfig = typeof LlmConfig.Type

export const EvaluatorConfig = Schema.Struct({
  /** Command and arguments; the candidate's path is appended. Derived from the evaluator file when omitted. */
  command: Schema.optional(Schema.Array(NonEmpty).pipe(Schema.minItems(1, { message: expected("a non-empty list") }))),
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 60 }),
  kill_grace_seconds: Schema.optionalWith(NonNegativeNumber, { default: () => 2 }),
  output_cap_bytes: Schema.optionalWith(PositiveInt(1 << 30), { default: () => 1 << 20 }),
  /** Fitness when the evaluator reports no `combined_score`. */
  primary_metric: Schema.optionalWith(NonEmpty, { default: () => "score" }),
  keep_artifacts: Schema.optionalWith(Schema.Boolean, { default: () => false })
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

export const RunConfig = Schema.Struct({
  goal: Schema.optionalWith(Schema.String, { default: () => "Improve the program's score." }),
  language: Schema.optional(NonEmpty),
  seed: Schema.optionalWith(Schema.Int, { default: () => 42 }),
  max_evaluations: Schema.optionalWith(PositiveInt(100_000_000), { default: () => 100 }),
  target_score: Schema.optional(Schema.Number.pipe(Schema.finite({ message: expected("a finite number") }))),
  max_wall_seconds: Schema.optional(PositiveNumber),
  /** Stop after this many consecutive failed proposals (LLM or patch errors): the model is unusable. */
  max_consecutive_proposal_failures: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 50 }),
  /** On SIGINT/SIGTERM, in-flight evaluations get this long to finish before they are interrupted. */
  shutdown_grace_seconds: Schema.optionalWith(NonNegativeNumber, { default: () => 10 }),
  edit_format: Schema.optionalWith(EditFormat, { default: () => "diff" as const }),
  max_code_bytes: Schema.optionalWith(PositiveInt(1 << 26), { default: () => 256 * 1024 }),
  concurrency: Schema.optionalWith(ConcurrencyConfig, { default: () => ConcurrencyConfig.make({}) }),
  llm: Schema.optionalWith(LlmConfig, { default: () => LlmConfig.make({}) }),
  evaluator: Schema.optionalWith(EvaluatorConfig, { default: () => EvaluatorConfig.make({}) }),
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
