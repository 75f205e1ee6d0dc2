/**
 * What a coding agent's stdout says about its run, when it prints JSON: token usage and cost
 * (`claude -p --output-format json`: `usage` and `total_cost_usd`; `codex exec --json`: JSON
 * lines whose `usage` add up) and whether it reports an error (`is_error`). Anything else
 * (plain text, garbage) reports nothing: the run is then accounted from character counts.
 */

export interface AgentReport {
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly usd: number | undefined
  /** The agent's own account of a failure (`is_error: true` with its `result`). */
  readonly error: string | undefined
  /** The agent's final message, when it gives one (`result`). */
  readonly summary: string | undefined
}

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const parseObject = (text: string): Json | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

const count = (value: unknown): number => typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0

/** The JSON objects of `stdout`: the whole text as one object, else one per line. */
const objectsOf = (stdout: string): Array<Json> => {
  const whole = parseObject(stdout.trim())
  if (whole !== undefined) return [whole]
  return stdout.split("\n").flatMap((line) => {
    const trimmed = line.trim()
    if (!trimmed.startsWith("{")) return []
    const object = parseObject(trimmed)
    return object === undefined ? [] : [object]
  })
}

export const parse = (stdout: string): AgentReport => {
  let inputTokens: number | undefined
  let outputTokens: number | undefined
  let usd: number | undefined
  let error: string | undefined
  let summary: string | undefined
  for (const object of objectsOf(stdout)) {
    const usage = isObject(object.usage) ? object.usage : undefined
    if (usage !== undefined && ("input_tokens" in usage || "output_tokens" in usage)) {
      // claude counts cache reads and writes apart from input_tokens; codex's cached_input_tokens are part of them.
      inputTokens = (inputTokens ?? 0) + count(usage.input_tokens) + count(usage.cache_creation_input_tokens) +
        count(usage.cache_read_input_tokens)
      outputTokens = (outputTokens ?? 0) + count(usage.output_tokens)
    }
    for (const key of ["total_cost_usd", "cost_usd"]) {
      if (typeof object[key] === "number" && Number.isFinite(object[key]) && object[key] >= 0) usd = object[key]
    }
    if (typeof object.result === "string") summary = object.result
    if (object.is_error === true) error = typeof object.result === "string" && object.result !== "" ? object.result : "the agent reported an error"
  }
  return { inputTokens, outputTokens, usd, error, summary }
}
