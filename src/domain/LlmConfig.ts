/** The `llm` section of a run's config (owned by the LLM layer, issue 4). */
import { Schema } from "effect"
import { expected, PositiveInt, PositiveNumber, NonNegativeNumber, NonEmpty, EnvName } from "./ConfigSchemas.js"

export const ProviderName = Schema.Literal("offline", "openai-chat", "openai-responses", "replay", "human", "agent")
export type ProviderName = typeof ProviderName.Type

/** Extra JSON fields merged into every request body (e.g. `top_p`, `seed`, `reasoning_effort`). */
const ExtraBody = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const Temperature = Schema.Number.pipe(Schema.between(0, 2, { message: expected("a number from 0 to 2") }))
const Retries = Schema.Int.pipe(Schema.between(0, 20, { message: expected("an integer from 0 to 20") }))

/**
 * `provider: agent` (src/llm/agent): a command-line coding agent (`claude -p`, `codex exec`,
 * `aider`, …) edits a scratch copy of the parent; the changed file is the candidate. In
 * `command`, `{prompt_file}` and `{program}` are replaced by the prompt file's and the program
 * file's paths.
 */
export const AgentConfig = Schema.Struct({
  command: Schema.Array(NonEmpty).pipe(Schema.minItems(1, { message: expected("a non-empty command line") })),
  /** The prompt on the agent's stdin, or in a file (`{prompt_file}`, else appended to the command). */
  prompt: Schema.optionalWith(Schema.Literal("stdin", "file"), { default: () => "stdin" as const }),
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 600 }),
  output_cap_bytes: Schema.optionalWith(PositiveInt(1 << 30), { default: () => 4_000_000 }),
  /** Variables set in the agent's environment: its own keys are named here or in pass_env, no others reach it. */
  env: Schema.optionalWith(Schema.Record({ key: EnvName, value: Schema.String }), { default: () => ({}) }),
  pass_env: Schema.optionalWith(Schema.Array(NonEmpty), { default: () => [] }),
  /** bwrap: the agent sees the filesystem read-only but its scratch dir (it keeps the network). */
  sandbox: Schema.optionalWith(Schema.Literal("none", "bwrap"), { default: () => "none" as const })
})
export type AgentConfig = typeof AgentConfig.Type

/**
 * One model of an ensemble (`llm.models`). Every key but `model` is optional and inherits the
 * value of the same key under `llm`. `name` labels the model in accounting (default: `model`).
 */
export const LlmModelConfig = Schema.Struct({
  name: Schema.optional(NonEmpty),
  model: NonEmpty,
  provider: Schema.optional(ProviderName),
  base_url: Schema.optional(NonEmpty),
  api_key_env: Schema.optional(NonEmpty),
  temperature: Schema.optional(Temperature),
  max_tokens: Schema.optional(PositiveInt(1_000_000)),
  timeout_seconds: Schema.optional(PositiveNumber),
  max_retries: Schema.optional(Retries),
  price_input_per_m: Schema.optional(NonNegativeNumber),
  price_output_per_m: Schema.optional(NonNegativeNumber),
  extra_body: Schema.optional(ExtraBody),
  /** Relative share of proposals under `selection: weighted`. */
  weight: Schema.optional(NonNegativeNumber),
  max_concurrency: Schema.optional(PositiveInt(1_000_000)),
  requests_per_minute: Schema.optional(PositiveNumber),
  replay_file: Schema.optional(NonEmpty),
  agent: Schema.optional(AgentConfig)
})
export type LlmModelConfig = typeof LlmModelConfig.Type

export const EmbeddingConfig = Schema.Struct({
  /** "offline": deterministic hashed character n-grams, no network. */
  provider: Schema.optionalWith(Schema.Literal("openai", "offline"), { default: () => "openai" as const }),
  model: Schema.optionalWith(NonEmpty, { default: () => "text-embedding-3-small" }),
  /** Defaults to `llm.base_url`. */
  base_url: Schema.optional(NonEmpty),
  /** Defaults to `llm.api_key_env`. */
  api_key_env: Schema.optional(NonEmpty),
  dimensions: Schema.optional(PositiveInt(65_536)),
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 60 }),
  price_per_m: Schema.optionalWith(NonNegativeNumber, { default: () => 0 })
})
export type EmbeddingConfig = typeof EmbeddingConfig.Type

export const LlmConfig = Schema.Struct({
  provider: Schema.optionalWith(ProviderName, { default: () => "offline" as const }),
  model: Schema.optionalWith(NonEmpty, { default: () => "gpt-4o-mini" }),
  base_url: Schema.optionalWith(NonEmpty, { default: () => "https://api.openai.com/v1" }),
  /** Name of the environment variable holding the API key (the key itself never goes in a file). */
  api_key_env: Schema.optionalWith(NonEmpty, { default: () => "OPENAI_API_KEY" }),
  temperature: Schema.optionalWith(Temperature, { default: () => 0.7 }),
  max_tokens: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 4096 }),
  /** Per attempt. */
  timeout_seconds: Schema.optionalWith(PositiveNumber, { default: () => 120 }),
  max_retries: Schema.optionalWith(Retries, { default: () => 5 }),
  /** Overall time budget of one call, all attempts and backoff included. */
  retry_budget_seconds: Schema.optionalWith(PositiveNumber, { default: () => 600 }),
  /** Per-1M-token prices in USD, used for cost accounting. */
  price_input_per_m: Schema.optionalWith(NonNegativeNumber, { default: () => 0 }),
  price_output_per_m: Schema.optionalWith(NonNegativeNumber, { default: () => 0 }),
  extra_body: Schema.optional(ExtraBody),
  /** Per model: most requests in flight (the AIMD limit starts here and never exceeds it). */
  max_concurrency: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 4096 }),
  /** Per model: optional requests-per-minute limit. */
  requests_per_minute: Schema.optional(PositiveNumber),
  /** AIMD: after a 429 the limit halves; it grows by one per min(limit, this many) successes. */
  aimd_increase_after: Schema.optionalWith(PositiveInt(1_000_000), { default: () => 10 }),
  /** Circuit breaker: this many consecutive failed attempts open it (0 disables it)… */
  breaker_failures: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(0, 1_000_000, { message: expected("an integer ≥ 0") })),
    { default: () => 5 }
  ),
  /** …for this long; then one probe call decides between closed and open again. */
  breaker_cooldown_seconds: Schema.optionalWith(PositiveNumber, { default: () => 30 }),
  /** Answer identical temperature-0 requests from the SQLite cache. */
  cache: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Store each proposal's prompts and answers (shown on the program page); off saves space. */
  log_prompts: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Output tokens assumed per call by cost estimates before any call finished (default: max_tokens). */
  typical_output_tokens: Schema.optional(PositiveInt(1_000_000)),
  /** JSONL of recorded calls, for `provider: replay` (written by `evolve run --record FILE`). */
  replay_file: Schema.optional(NonEmpty),
  /** The coding agent of `provider: agent` models. */
  agent: Schema.optional(AgentConfig),
  /** An ensemble; when absent the run uses the single model described by the keys above. */
  models: Schema.optional(Schema.Array(LlmModelConfig).pipe(Schema.minItems(1, { message: expected("a non-empty list") }))),
  /** How an ensemble picks the model of each call: by weight, or a cost-aware UCB bandit. */
  selection: Schema.optionalWith(Schema.Literal("weighted", "bandit"), { default: () => "weighted" as const }),
  /** UCB exploration constant. */
  bandit_exploration: Schema.optionalWith(NonNegativeNumber, { default: () => 1 }),
  embedding: Schema.optional(EmbeddingConfig)
})
export type LlmConfig = typeof LlmConfig.Type
