/**
 * The models of a run, fully resolved: `llm.models` entries inherit every key they omit from
 * `llm`; without `llm.models` the run has the single model described by `llm` itself.
 * Also the pure cost arithmetic shared by accounting and budget estimates.
 */
import type { AgentConfig, LlmConfig, ProviderName } from "../domain/RunConfig.js"

export interface ModelSpec {
  /** Unique label used in accounting, events, the bandit and `LlmRequest.model`. */
  readonly name: string
  readonly provider: ProviderName
  /** The model id sent to the server. */
  readonly model: string
  readonly baseUrl: string
  readonly apiKeyEnv: string
  readonly temperature: number
  readonly maxTokens: number
  readonly timeoutMs: number
  readonly maxRetries: number
  readonly retryBudgetMs: number
  readonly priceInputPerM: number
  readonly priceOutputPerM: number
  readonly extraBody: Readonly<Record<string, unknown>>
  readonly weight: number
  readonly maxConcurrency: number
  readonly requestsPerMinute: number | undefined
  readonly replayFile: string | undefined
  /** The coding agent of a `provider: agent` model. */
  readonly agent: AgentConfig | undefined
}

/** The label of a single-model config (kept "offline" for the offline provider, as before). */
const singleName = (config: LlmConfig): string =>
  config.provider === "offline" || config.provider === "human" || config.provider === "agent" ? config.provider : config.model

/** A person answers in minutes to hours: a human model waits a day by default, and is never retried. */
const HUMAN_TIMEOUT_MS = 24 * 3600 * 1000
const humanDefaults = (spec: ModelSpec, timeoutGiven: boolean): ModelSpec =>
  spec.provider !== "human" ? spec : {
    ...spec,
    timeoutMs: timeoutGiven ? spec.timeoutMs : HUMAN_TIMEOUT_MS,
    retryBudgetMs: Math.max(spec.retryBudgetMs, timeoutGiven ? spec.timeoutMs : HUMAN_TIMEOUT_MS),
    maxRetries: 0
  }

/**
 * An agent run is long and costly: it is never retried (a patch retry gives it the reason
 * instead), and the call's own timeout leaves the agent's `timeout_seconds` (the process's
 * limit, applied with its grace period) room to act first.
 */
const agentDefaults = (spec: ModelSpec): ModelSpec => {
  if (spec.provider !== "agent" || spec.agent === undefined) return spec
  const timeoutMs = Math.max(spec.timeoutMs, Math.round(spec.agent.timeout_seconds * 1000) + 30_000)
  return { ...spec, timeoutMs, retryBudgetMs: Math.max(spec.retryBudgetMs, timeoutMs), maxRetries: 0 }
}

/** Resolves `config` into its models, in config order. Names are made unique ("m", "m#2", …). */
export const resolveModels = (config: LlmConfig): ReadonlyArray<ModelSpec> => {
  const base = {
    provider: config.provider,
    baseUrl: config.base_url,
    apiKeyEnv: config.api_key_env,
    temperature: config.temperature,
    maxTokens: config.max_tokens,
    timeoutMs: Math.round(config.timeout_seconds * 1000),
    maxRetries: config.max_retries,
    retryBudgetMs: Math.round(config.retry_budget_seconds * 1000),
    priceInputPerM: config.price_input_per_m,
    priceOutputPerM: config.price_output_per_m,
    extraBody: config.extra_body ?? {},
    weight: 1,
    maxConcurrency: config.max_concurrency,
    requestsPerMinute: config.requests_per_minute,
    replayFile: config.replay_file,
    agent: config.agent
  }
  if (config.models === undefined || config.models.length === 0) {
    return [agentDefaults(humanDefaults({ ...base, name: singleName(config), model: config.model }, false))]
  }
  const seen = new Map<string, number>()
  return config.models.map((m): ModelSpec => {
    const provider = m.provider ?? base.provider
    const wanted = m.name ?? (provider === "offline" && m.model === config.model ? "offline" : m.model)
    const n = (seen.get(wanted) ?? 0) + 1
    seen.set(wanted, n)
    return agentDefaults(humanDefaults({
      name: n === 1 ? wanted : `${wanted}#${n}`,
      provider,
      model: m.model,
      baseUrl: m.base_url ?? base.baseUrl,
      apiKeyEnv: m.api_key_env ?? base.apiKeyEnv,
      temperature: m.temperature ?? base.temperature,
      maxTokens: m.max_tokens ?? base.maxTokens,
      timeoutMs: m.timeout_seconds !== undefined ? Math.round(m.timeout_seconds * 1000) : base.timeoutMs,
      maxRetries: m.max_retries ?? base.maxRetries,
      retryBudgetMs: base.retryBudgetMs,
      priceInputPerM: m.price_input_per_m ?? base.priceInputPerM,
      priceOutputPerM: m.price_output_per_m ?? base.priceOutputPerM,
      extraBody: { ...base.extraBody, ...m.extra_body },
      weight: m.weight ?? 1,
      maxConcurrency: m.max_concurrency ?? base.maxConcurrency,
      requestsPerMinute: m.requests_per_minute ?? base.requestsPerMinute,
      replayFile: m.replay_file ?? base.replayFile,
      agent: m.agent ?? base.agent
    }, m.timeout_seconds !== undefined))
  })
}

/** Rough token estimate used when the provider reports no usage: ceil(chars / 4). */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** USD for a call: tokens × price per 1M tokens. */
export const costUsd = (
  prices: { readonly priceInputPerM: number; readonly priceOutputPerM: number },
  inputTokens: number,
  outputTokens: number
): number => (inputTokens * prices.priceInputPerM + outputTokens * prices.priceOutputPerM) / 1_000_000
