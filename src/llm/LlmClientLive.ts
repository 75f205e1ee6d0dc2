/**
 * The live `LlmClient`: picks the provider named by the config and wraps every
 * `LanguageModel.generateText` call with a per-request timeout, the retry policy
 * (`RetryPolicy.llmRetrySchedule`), latency and attempt accounting, and USD cost.
 *
 * - Latency is the wall time of the whole `complete` call (all attempts and backoff sleeps),
 *   measured with `Clock`: it is what the caller waited.
 * - Token usage comes from the provider; when it is missing, tokens are estimated as
 *   ceil(chars / 4) of the prompt (system + user) and of the answer.
 * - A reply whose text is empty falls back to the reasoning text (some local servers put the
 *   whole answer in `reasoning_content`); when both are empty the call fails with reason "empty".
 * - The API key (a `Redacted`, read by the caller from `config.api_key_env`) goes only to the
 *   provider layer; a missing key is allowed (local servers need none).
 */
import type { HttpClient } from "@effect/platform"
import { LanguageModel, Prompt } from "@effect/ai"
import { Clock, Duration, Effect, Layer, type Option, Ref, type Redacted } from "effect"
import { LlmError } from "../domain/Errors.js"
import type { LlmConfig } from "../domain/RunConfig.js"
import { LlmClient, type LlmReply, type LlmRequest, type LlmRetryInfo } from "./LlmClient.js"
import * as OfflineModel from "./OfflineModel.js"
import * as OpenAiChat from "./OpenAiChat.js"
import { emptyError, llmRetrySchedule, tapRetry, timeoutError, toLlmError } from "./RetryPolicy.js"

/** Rough token estimate used when the provider reports no usage. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** USD for a call: tokens × price per 1M tokens. */
export const costUsd = (
  config: Pick<LlmConfig, "price_input_per_m" | "price_output_per_m">,
  inputTokens: number,
  outputTokens: number
): number => (inputTokens * config.price_input_per_m + outputTokens * config.price_output_per_m) / 1_000_000

/** The provider layer named by `config.provider`. */
export const providerLayer = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted>
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> => {
  switch (config.provider) {
    case "offline":
      return OfflineModel.layer
    case "openai-chat":
      return OpenAiChat.layer({
        baseUrl: config.base_url,
        model: config.model,
        apiKey,
        temperature: config.temperature,
        maxTokens: config.max_tokens
      })
  }
}

/** Builds the client over whichever `LanguageModel` is in context. */
export const make = (config: LlmConfig): Effect.Effect<LlmClient["Type"], never, LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const model = yield* LanguageModel.LanguageModel
    const modelName = config.provider === "offline" ? "offline" : config.model
    const timeout = Duration.millis(Math.round(config.timeout_seconds * 1000))
    const timeoutMs = Duration.toMillis(timeout)

    const attemptOnce = (request: LlmRequest) =>
      // Built with constructors rather than a raw message array, which Prompt.make would Schema-decode.
      model.generateText({
        prompt: Prompt.fromMessages([
          Prompt.systemMessage({ content: request.system }),
          Prompt.userMessage({ content: [Prompt.makePart("text", { text: request.user })] })
        ])
      }).pipe(
        Effect.catchAll(toLlmError),
        Effect.flatMap((response) => {
          const text = response.text.length > 0 ? response.text : (response.reasoningText ?? "")
          return text.length > 0
            ? Effect.succeed({ text, usage: response.usage, finishReason: response.finishReason })
            : Effect.fail(emptyError(response.finishReason))
        }),
        Effect.timeoutFail({ duration: timeout, onTimeout: () => timeoutError(timeoutMs) })
      )

    const complete = Effect.fn("LlmClient.complete")(function*(
      request: LlmRequest,
      onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
    ) {
      yield* Effect.annotateCurrentSpan({ "gen_ai.request.model": modelName, "llm.provider": config.provider })
      const startNs = yield* Clock.currentTimeNanos
      const attempts = yield* Ref.make(0)
      const schedule = tapRetry(
        llmRetrySchedule(config.max_retries),
        (step, delayMs) =>
          onRetry === undefined
            ? Effect.void
            : onRetry({ model: modelName, attempt: step.attempt, reason: step.error.reason, delayMs })
      )
      const result = yield* Ref.update(attempts, (n) => n + 1).pipe(
        Effect.zipRight(attemptOnce(request)),
        Effect.retry(schedule),
        Effect.catchAll((error) =>
          Effect.flatMap(Ref.get(attempts), (n) =>
            Effect.fail(
              new LlmError({
                reason: error.reason,
                message: error.message,
                status: error.status,
                retryAfterMs: error.retryAfterMs,
                attempts: n
              })
            ))
        )
      )
      const endNs = yield* Clock.currentTimeNanos
      const inputTokens = result.usage.inputTokens ?? estimateTokens(request.system) + estimateTokens(request.user)
      const outputTokens = result.usage.outputTokens ?? estimateTokens(result.text)
      const n = yield* Ref.get(attempts)
      yield* Effect.annotateCurrentSpan({
        "gen_ai.usage.input_tokens": inputTokens,
        "gen_ai.usage.output_tokens": outputTokens,
        "llm.attempts": n
      })
      return {
        text: result.text,
        model: modelName,
        inputTokens,
        outputTokens,
        usd: costUsd(config, inputTokens, outputTokens),
        latencyMs: Number(endNs - startNs) / 1_000_000,
        attempts: n,
        finishReason: result.finishReason
      } satisfies LlmReply
    })

    return LlmClient.of({ model: modelName, complete })
  })

/** The client over a `LanguageModel` supplied by the caller (tests, custom providers). */
export const layerWithModel = (config: LlmConfig): Layer.Layer<LlmClient, never, LanguageModel.LanguageModel> =>
  Layer.effect(LlmClient, make(config))

/** The live client for `config.provider`; the host supplies the `HttpClient`. */
export const layer = (
  config: LlmConfig,
  apiKey: Option.Option<Redacted.Redacted>
): Layer.Layer<LlmClient, never, HttpClient.HttpClient> =>
  layerWithModel(config).pipe(Layer.provide(providerLayer(config, apiKey)))
