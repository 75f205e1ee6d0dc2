/**
 * One call of a request on one model: the recorded answer for `provider: replay`; else the
 * temperature-0 cache, breaker admission, and the retry loop (`RetryPolicy.llmRetrySchedule`,
 * bounded by `retry_budget_seconds`) around attempts, each under the optional
 * requests-per-minute limiter, the AIMD limiter, the per-attempt timeout; and the call's
 * accounting (latency from Clock over the whole call, tokens from the provider's usage else
 * chars / 4, USD from the model's prices, attempts). Failures are `LlmCallError`s carrying the
 * same accounting, their messages scrubbed of the API key.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import { Clock, Duration, Effect, Either, Option, Ref } from "effect"
import { LlmError } from "../domain/Errors.js"
import { zeroUsage } from "../domain/LlmUsage.js"
import { cacheKey, type LlmCache } from "./LlmCache.js"
import { LlmCallError, type LlmReply, type LlmRequest, type LlmRetryInfo } from "./LlmClient.js"
import { costUsd, estimateTokens } from "./Models.js"
import { type ModelRuntime, openForMs } from "./ModelRuntime.js"
import * as OpenAiChat from "./OpenAiChat.js"
import * as Traced from "../domain/Traced.js"
import * as Providers from "./Providers.js"
import type { ReplayLog } from "./Replay.js"
import { emptyError, llmRetrySchedule, tapRetry, timeoutError, toLlmError, untilDeadline } from "./RetryPolicy.js"

export interface CallContext {
  /** The temperature-0 cache; undefined when `llm.cache` is off. */
  readonly cache: LlmCache["Type"] | undefined
  readonly replay: ReplayLog["Type"]
  /** `llm.breaker_failures`, for the message of an open breaker. */
  readonly breakerFailures: number
}

/** Failures that count against a model's circuit breaker: the model looks unusable, not the prompt. */
export const countsAgainstBreaker = (error: LlmError): boolean => {
  switch (error.reason) {
    case "rate_limited":
    case "server":
    case "timeout":
    case "connection":
    case "malformed":
      return true
    case "bad_request":
      return error.status === 401 || error.status === 403 || error.status === 404
    default:
      return false
  }
}

/** A provider's answer before accounting (a `CachedReply` is one, with its usage). */
interface RawReply {
  readonly text: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly finishReason: string
  /** The cost the provider reported (a coding agent's `total_cost_usd`); else priced from tokens. */
  readonly usd?: number | undefined
}

const prompt = (request: LlmRequest) =>
  // Built with constructors rather than a raw message array, which Prompt.make would Schema-decode.
  Prompt.fromMessages([
    Prompt.systemMessage({ content: request.system }),
    Prompt.userMessage({ content: [Prompt.makePart("text", { text: request.user })] })
  ])

/**
 * One attempt's answer: the coding agent's edit (`provider: agent`), else the model's, within
 * the model's timeout and what is left of the call's time budget (which ends at `deadlineMs`).
 */
const providerCall = (rt: ModelRuntime, lm: LanguageModel.Service | undefined, request: LlmRequest, deadlineMs: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const left = deadlineMs - now
    const overBudget = () =>
      new LlmError({ reason: "timeout", message: `no answer within the call's time budget of ${rt.spec.retryBudgetMs / 1000} s` })
    // The budget was spent waiting for a permit: no request is sent.
    if (left <= 0) return Effect.fail(overBudget())
    const timeout = left < rt.spec.timeoutMs ? overBudget : () => timeoutError(rt.spec.timeoutMs)
    return Effect.timeoutFail(providerAnswer(rt, lm, request), { duration: Duration.millis(Math.min(left, rt.spec.timeoutMs)), onTimeout: timeout })
  })

const providerAnswer = (rt: ModelRuntime, lm: LanguageModel.Service | undefined, request: LlmRequest) =>
  rt.agent !== undefined
    ? rt.agent.call(request)
    : rt.chat !== undefined
    ? chatCall(rt.chat, request)
    : lm !== undefined
    ? modelCall(rt, lm, request)
    : Effect.fail(new LlmError({ reason: "bad_request", message: `model ${rt.spec.name} has no provider` }))

/** The reply of a text (else, for reasoning models that put everything there, the reasoning). */
const rawReply = (
  text: string,
  reasoning: string | undefined,
  usage: { readonly inputTokens: number | undefined; readonly outputTokens: number | undefined },
  finishReason: string
): Effect.Effect<RawReply, LlmError> => {
  const answer = text.length > 0 ? text : (reasoning ?? "")
  return answer.length > 0
    ? Effect.succeed({ text: answer, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, finishReason })
    : Effect.fail(emptyError(finishReason))
}

/** An `openai-chat` model's request, without the @effect/ai prompt and response decoding. */
const chatCall = (chat: OpenAiChat.Chat, request: LlmRequest) =>
  chat("generateText", [{ role: "system", content: request.system }, { role: "user", content: request.user }], {
    temperature: request.temperature,
    maxTokens: request.maxTokens
  }).pipe(
    Effect.catchAll(toLlmError),
    Effect.flatMap((completion) => {
      const reply = OpenAiChat.toChatReply(completion)
      return rawReply(reply.text, reply.reasoning, reply, reply.finishReason)
    })
  )

const modelCall = (rt: ModelRuntime, lm: LanguageModel.Service, request: LlmRequest) =>
  lm.generateText({ prompt: prompt(request) }).pipe(
    Providers.withOverrides(rt.spec, { temperature: request.temperature, maxTokens: request.maxTokens }),
    Effect.catchAll(toLlmError),
    Effect.flatMap((response) => rawReply(response.text, response.reasoningText, response.usage, response.finishReason))
  )

/** Fails with "circuit_open" and the wait until the model's breaker half-opens. */
export const circuitOpen = (rt: ModelRuntime, breakerFailures: number) =>
  Effect.flatMap(openForMs(rt), (ms) =>
    Effect.fail(
      new LlmError({
        reason: "circuit_open",
        message: `circuit breaker open for model ${rt.spec.name} (${breakerFailures} consecutive failed calls)`,
        retryAfterMs: ms
      })
    ))

/** One attempt; from the second attempt of a call on, stops early when the model's breaker has opened meanwhile. */
const attemptOnce = (
  ctx: CallContext,
  rt: ModelRuntime,
  lm: LanguageModel.Service | undefined,
  request: LlmRequest,
  attempts: Ref.Ref<number>,
  first: number,
  deadlineMs: number
) =>
  Effect.gen(function*() {
    const n = yield* Ref.updateAndGet(attempts, (k) => k + 1)
    if (n > first + 1 && (yield* rt.breaker.state)._tag === "Open") {
      yield* Ref.update(attempts, (k) => k - 1)
      return yield* circuitOpen(rt, ctx.breakerFailures)
    }
    return yield* rt.rateLimit(
      rt.limiter.withPermit((window) =>
        providerCall(rt, lm, request, deadlineMs).pipe(
          Effect.tapBoth({
            onFailure: (e) => e.reason === "rate_limited" ? rt.limiter.onRateLimited(window) : Effect.void,
            onSuccess: () => rt.limiter.onSuccess
          })
        )
      )
    ).pipe(
      Traced.withSpan("LlmClient.attempt", { attributes: { "gen_ai.request.model": rt.spec.name, "llm.attempt": n } })
    )
  })

/**
 * The call of `request` on the model of `rt`, started at `startNs` (Clock nanos) after
 * `priorAttempts` attempts on other models whose breakers opened.
 */
export const callModel = (
  ctx: CallContext,
  rt: ModelRuntime,
  request: LlmRequest,
  onRetry: ((info: LlmRetryInfo) => Effect.Effect<void>) | undefined,
  startNs: bigint,
  priorAttempts: number
): Effect.Effect<LlmReply, LlmCallError> =>
  Effect.gen(function*() {
    const spec = rt.spec
    rt.stats.calls++
    const elapsedMs = Effect.map(Clock.currentTimeNanos, (now) => Number(now - startNs) / 1_000_000)
    const fail = (error: LlmError, attempts: number) =>
      Effect.flatMap(elapsedMs, (latencyMs) => {
        rt.stats.failures++
        return Effect.fail(
          new LlmCallError({
            reason: error.reason,
            message: OpenAiChat.scrubSecret(error.message, rt.apiKey),
            status: error.status,
            retryAfterMs: error.retryAfterMs,
            ...zeroUsage(spec.name, latencyMs, attempts)
          })
        )
      })
    const succeed = (raw: RawReply, attempts: number, cached: boolean) =>
      Effect.map(elapsedMs, (latencyMs): LlmReply => {
        const inputTokens = raw.inputTokens ?? estimateTokens(request.system) + estimateTokens(request.user)
        const outputTokens = raw.outputTokens ?? estimateTokens(raw.text)
        if (!cached) {
          rt.stats.completed++
          rt.stats.outputTokens += outputTokens
        }
        return {
          text: raw.text,
          model: spec.name,
          inputTokens,
          outputTokens,
          usd: cached ? 0 : raw.usd ?? costUsd(spec, inputTokens, outputTokens),
          latencyMs,
          attempts,
          finishReason: raw.finishReason,
          ...(cached ? { cached: true } : {})
        }
      })

    // Replay: the recorded answer, with its recorded accounting.
    if (spec.provider === "replay") {
      const index = ctx.replay.index(spec.replayFile ?? "")
      if (Option.isNone(index)) {
        return yield* fail(
          new LlmError({ reason: "bad_request", message: `replay: no recording loaded for model ${spec.name} (set llm.replay_file)` }),
          priorAttempts
        )
      }
      const answer = index.value.lookup(spec.name, request.system, request.user)
      if (answer === undefined) {
        return yield* fail(
          new LlmError({ reason: "bad_request", message: `replay: no recorded response for this request in ${index.value.file}` }),
          priorAttempts
        )
      }
      if (answer._tag === "Error") {
        return yield* fail(new LlmError({ ...answer.error }), answer.error.attempts ?? priorAttempts + 1)
      }
      yield* Effect.sleep(Duration.millis(answer.reply.latencyMs))
      rt.stats.completed++
      rt.stats.outputTokens += answer.reply.outputTokens
      return { ...answer.reply, model: spec.name }
    }

    const lm = Option.getOrUndefined(rt.lm)
    const temperature = request.temperature ?? spec.temperature
    const maxTokens = request.maxTokens ?? spec.maxTokens
    // An agent's edit is not a function of the prompt alone (it runs tools): never cached.
    const cache = temperature === 0 && rt.agent === undefined ? ctx.cache : undefined
    const key = cache === undefined ? undefined : cacheKey(spec, request, temperature, maxTokens)
    if (cache !== undefined && key !== undefined) {
      const hit = yield* cache.get(key)
      if (Option.isSome(hit)) {
        rt.stats.cacheHits++
        return yield* succeed(hit.value, priorAttempts, true)
      }
    }

    const admission = yield* rt.breaker.admit
    if (admission === "rejected") {
      return yield* Effect.flatMap(Effect.flip(circuitOpen(rt, ctx.breakerFailures)), (e) => fail(e, priorAttempts))
    }
    const attempts = yield* Ref.make(priorAttempts)
    const deadlineMs = Number(startNs / 1_000_000n) + spec.retryBudgetMs
    const schedule = tapRetry(
      untilDeadline(llmRetrySchedule(spec.maxRetries), deadlineMs),
      (step, delayMs) =>
        onRetry === undefined ? Effect.void : onRetry({ model: spec.name, attempt: step.attempt, reason: step.error.reason, delayMs })
    )
    // No attempt outlives the budget and no retry starts past it (untilDeadline): no outer timeout.
    const result = yield* attemptOnce(ctx, rt, lm, request, attempts, priorAttempts, deadlineMs).pipe(
      Effect.retry(schedule),
      Effect.either,
      Effect.onInterrupt(() => admission === "probe" ? rt.breaker.abandonProbe : Effect.void)
    )
    // The breaker counts calls, not attempts: a call failed only once its retries are spent.
    if (Either.isRight(result)) yield* rt.breaker.onSuccess
    else if (countsAgainstBreaker(result.left)) yield* rt.breaker.onFailure
    else if (result.left.reason !== "circuit_open") yield* rt.breaker.onSuccess
    else if (admission === "probe") yield* rt.breaker.abandonProbe
    const n = yield* Ref.get(attempts)
    if (Either.isLeft(result)) return yield* fail(result.left, n)
    const reply = yield* succeed(result.right, n, false)
    if (cache !== undefined && key !== undefined) {
      yield* cache.put(key, spec.name, {
        text: reply.text,
        inputTokens: reply.inputTokens,
        outputTokens: reply.outputTokens,
        finishReason: reply.finishReason
      })
    }
    return reply
  }).pipe(Traced.annotateSpans({ "gen_ai.request.model": rt.spec.name, "llm.provider": rt.spec.provider }))
