import { Context, Effect } from "effect"
import { LlmError, type LlmErrorReason } from "../domain/Errors.js"
import { type LlmUsage, usageOf, zeroUsage } from "../domain/LlmUsage.js"
import type { RecordedSteering } from "./Replay.js"

export interface LlmRequest {
  readonly system: string
  readonly user: string
  /** Pin the call to this model (a name from `models`); default: the client's selection picks. */
  readonly model?: string | undefined
  /** Override the model's configured temperature for this call. */
  readonly temperature?: number | undefined
  /** Override the model's configured max output tokens for this call. */
  readonly maxTokens?: number | undefined
}

/** An answer with its accounting (`attempts` is 0 when answered from the cache). */
export interface LlmReply extends LlmUsage {
  readonly text: string
  readonly finishReason: string
  /** True when answered from the temperature-0 cache (then `usd` is 0). */
  readonly cached?: boolean | undefined
}

export interface LlmRetryInfo {
  readonly model: string
  readonly attempt: number
  readonly reason: string
  readonly delayMs: number
}

export type BreakerStatus = "closed" | "open" | "half_open"

/** A model's live state, for progress displays, metrics and tests. */
export interface ModelStatus {
  readonly name: string
  readonly provider: string
  /** Current AIMD concurrency limit and its ceiling. */
  readonly limit: number
  readonly maxConcurrency: number
  readonly inFlight: number
  readonly breaker: BreakerStatus
  readonly calls: number
  readonly failures: number
  readonly cacheHits: number
  /** Outcomes recorded for the bandit and their totals. */
  readonly outcomes: number
  readonly totalImprovement: number
  readonly totalUsd: number
}

/**
 * The run's side of a recording (issue 17): steering actions and the points where background
 * results were applied go into the recording next to the LLM calls, and a replaying run takes
 * them again at the same points.
 */
export interface RunRecording {
  /** Appends a steering action to the recording (nothing when the client records nothing). */
  readonly steer: (steering: RecordedSteering) => Effect.Effect<void>
  /** Appends the step at which the run applied a background result (a meta-note). */
  readonly applied: (step: number) => Effect.Effect<void>
  /** What the recording this client replays holds (nothing without replay). */
  readonly replayed: {
    readonly steering: ReadonlyArray<RecordedSteering>
    readonly applied: ReadonlyArray<number>
  }
}

/** No recording, nothing replayed. */
export const noRecording: RunRecording = { steer: () => Effect.void, applied: () => Effect.void, replayed: { steering: [], applied: [] } }

/**
 * An `LlmError` that also carries the accounting of the failed call: every call, failed ones
 * included, has a model, tokens, USD, latency and attempts. `_tag` stays "LlmError".
 */
export interface LlmCallError extends Omit<LlmUsage, "attempts"> {}
export class LlmCallError extends LlmError {
  /** Always set on a call's error (optional on a plain `LlmError`). */
  declare readonly attempts: number
  constructor(props: {
    readonly reason: LlmErrorReason
    readonly message: string
    readonly status?: number | undefined
    readonly retryAfterMs?: number | undefined
  } & LlmUsage) {
    super(props)
  }
}

/** The accounting of a failed call (zeros and `fallbackModel` for a plain `LlmError`). */
export const failureAccounting = (error: LlmError, fallbackModel = ""): LlmUsage =>
  error instanceof LlmCallError
    ? usageOf(error)
    : zeroUsage(fallbackModel, 0, error.attempts ?? 1)

/**
 * The LLM as the rest of evolve sees it: one resilient call (per-model concurrency and rate
 * limits, AIMD, circuit breaker, timeout, retries with backoff, cost accounting, cache) over
 * whichever @effect/ai LanguageModel providers the config names, possibly several models.
 */
export class LlmClient extends Context.Tag("evolve/LlmClient")<LlmClient, {
  /** The first (or only) model's name. */
  readonly model: string
  /** Every model of the client, in config order. */
  readonly models: ReadonlyArray<string>
  /** Fails with an `LlmError`, in practice an {@link LlmCallError} carrying the call's accounting. */
  readonly complete: (
    request: LlmRequest,
    onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
  ) => Effect.Effect<LlmReply, LlmError>
  /**
   * Expected USD of `request` before it is sent (for a budget that counts in-flight calls):
   * prompt tokens (chars / 4) × input price + typical output tokens × output price, where
   * "typical" is the model's mean output so far, else `typical_output_tokens`, else max_tokens.
   * Unpinned requests take the dearest model of the client.
   */
  readonly estimateCostUsd: (request: LlmRequest) => Effect.Effect<number>
  /** Feeds the bandit: a candidate from `model` improved on its parent by `improvement` (≤ 0: none) and cost `usd`. */
  readonly recordOutcome: (model: string, improvement: number, usd: number) => Effect.Effect<void>
  /** A model's weight from now on (a person steering the run); false when the client has no such model. */
  readonly setWeight: (model: string, weight: number) => Effect.Effect<boolean>
  readonly status: Effect.Effect<ReadonlyArray<ModelStatus>>
  /** Steering actions recorded with the calls (`--record`) and replayed with them (`provider: replay`). */
  readonly recording: RunRecording
}>() {}

/** A client over a bare `complete` (test doubles, custom adapters); the other methods are inert. */
export const fromComplete = (
  model: string,
  complete: LlmClient["Type"]["complete"]
): LlmClient["Type"] =>
  LlmClient.of({
    model,
    models: [model],
    complete,
    estimateCostUsd: () => Effect.succeed(0),
    recordOutcome: () => Effect.void,
    setWeight: (name) => Effect.succeed(name === model),
    status: Effect.succeed([]),
    recording: noRecording
  })
