/**
 * The accounting of an LLM call: every call, failed ones included, has these six fields. One
 * Schema, spread into every shape that carries them (a reply, a recorded reply, a failed call,
 * the `LlmCallDone` event, a program's `llm`, a stored call).
 */
import { Schema } from "effect"

export const LlmUsage = Schema.Struct({
  model: Schema.String,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  usd: Schema.Number,
  latencyMs: Schema.Number,
  /** 1 when the first try succeeded; 0 when no request was sent (cache hit, open breaker). */
  attempts: Schema.Number
})
export type LlmUsage = typeof LlmUsage.Type

/** The accounting of a call that got no answer: no tokens, no cost. */
export const zeroUsage = (model: string, latencyMs = 0, attempts = 0): LlmUsage => ({
  model,
  inputTokens: 0,
  outputTokens: 0,
  usd: 0,
  latencyMs,
  attempts
})

/** Just the accounting of a value that carries more (a reply with its text, an error). */
export const usageOf = (u: LlmUsage): LlmUsage => ({
  model: u.model,
  inputTokens: u.inputTokens,
  outputTokens: u.outputTokens,
  usd: u.usd,
  latencyMs: u.latencyMs,
  attempts: u.attempts
})

/** The accounting of several calls: sums, under the model of the last one. */
export const sumUsage = (calls: ReadonlyArray<LlmUsage>, model = calls[calls.length - 1]?.model ?? ""): LlmUsage => {
  let inputTokens = 0
  let outputTokens = 0
  let usd = 0
  let latencyMs = 0
  let attempts = 0
  for (const c of calls) {
    inputTokens += c.inputTokens
    outputTokens += c.outputTokens
    usd += c.usd
    latencyMs += c.latencyMs
    attempts += c.attempts
  }
  return { model, inputTokens, outputTokens, usd, latencyMs, attempts }
}
