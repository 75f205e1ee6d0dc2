import { Context, type Effect } from "effect"
import type { LlmError } from "../domain/Errors.js"

export interface LlmRequest {
  readonly system: string
  readonly user: string
}

export interface LlmReply {
  readonly text: string
  readonly model: string
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
  readonly latencyMs: number
  /** 1 when the first try succeeded. */
  readonly attempts: number
  readonly finishReason: string
}

export interface LlmRetryInfo {
  readonly model: string
  readonly attempt: number
  readonly reason: string
  readonly delayMs: number
}

/**
 * The LLM as the rest of evolve sees it: one resilient call (timeout, retries with backoff,
 * cost accounting) over whichever @effect/ai LanguageModel provider the config names.
 */
export class LlmClient extends Context.Tag("evolve/LlmClient")<LlmClient, {
  readonly model: string
  readonly complete: (
    request: LlmRequest,
    onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
  ) => Effect.Effect<LlmReply, LlmError>
}>() {}
