/**
 * llmBatch's Effect form: many prompts across the models of the `LlmClient` in context (its
 * per-model concurrency, AIMD, breaker, retries, cost and cache all apply).
 *
 * - Results come back in input order, one per request: a success, or a typed failure
 *   (`reason`: an LLM error reason, "timeout" for the per-request timeout, "deadline" for items
 *   unfinished at the overall deadline, "invalid_output" for a reply that failed its validator,
 *   never retried). A partial failure never fails the batch.
 * - Concurrency: `concurrency` items at once overall (default 16), optionally
 *   `perModelConcurrency` per pinned model, on top of the client's own per-model limits.
 * - Progress: `onProgress` receives Started, Retried, Preview (the first characters of the
 *   reply, before validation), Succeeded and Failed events.
 * - Validators and progress callbacks run with the item's FiberRefs visible to their Promise
 *   code (BatchCaller), so a nested llmBatch shares the client and its spans nest.
 */
import { Cause, Clock, Duration, Effect, Either, Exit } from "effect"
import type { LlmErrorReason } from "../domain/Errors.js"
import { callUser } from "./BatchCaller.js"
import { describe, invalidReason, type ValidationVerdict, type Validator } from "./BatchValidation.js"
import { LlmCallError, LlmClient, type LlmReply, type LlmRequest } from "./LlmClient.js"

export interface BatchRequest {
  /** The user message. */
  readonly prompt: string
  readonly system?: string | undefined
  /** Pin a model; default: the client's selection (weights / bandit, breaker-aware). */
  readonly model?: string | undefined
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
  /** Per-request timeout (all attempts); default `options.timeout`. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Replaces `options.validate` for this request. */
  readonly validate?: Validator | undefined
  /** Echoed in the result. */
  readonly id?: string | undefined
}

/** A prompt string is a request with that user message. */
export type BatchInput = string | BatchRequest

export type BatchFailureReason = LlmErrorReason | "invalid_output" | "deadline" | "interrupted"

export interface BatchSuccess {
  readonly _tag: "Success"
  readonly index: number
  readonly id: string | undefined
  readonly model: string
  readonly text: string
  readonly reply: LlmReply
}

export interface BatchFailure {
  readonly _tag: "Failure"
  readonly index: number
  readonly id: string | undefined
  /** The model that failed, when one was reached. */
  readonly model: string | undefined
  readonly reason: BatchFailureReason
  readonly message: string
  readonly attempts: number
  readonly latencyMs: number
  /** The reply that failed validation ("invalid_output" only). */
  readonly reply: LlmReply | undefined
}

export type BatchResult = BatchSuccess | BatchFailure

export type BatchProgress =
  | { readonly _tag: "Started"; readonly index: number; readonly model: string | undefined }
  | {
    readonly _tag: "Retried"
    readonly index: number
    readonly model: string
    readonly attempt: number
    readonly reason: string
    readonly delayMs: number
  }
  | { readonly _tag: "Preview"; readonly index: number; readonly model: string; readonly text: string }
  | { readonly _tag: "Succeeded"; readonly index: number; readonly result: BatchSuccess }
  | { readonly _tag: "Failed"; readonly index: number; readonly result: BatchFailure }

export interface BatchOptions {
  /** Items in flight at once, overall. Default 16. */
  readonly concurrency?: number | undefined
  /** Items in flight at once per pinned model (on top of the client's own limits). */
  readonly perModelConcurrency?: number | undefined
  /** Per-request timeout, all attempts included. Default: none beyond the client's own. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Overall deadline from the start of the batch; unfinished items fail with "deadline". */
  readonly deadline?: Duration.DurationInput | undefined
  /** Default validator of every request. */
  readonly validate?: Validator | undefined
  /** Send every request to every model of the client (results request-major). */
  readonly allModels?: boolean | undefined
  readonly onProgress?: ((event: BatchProgress) => void | PromiseLike<void> | Effect.Effect<void>) | undefined
  /** Characters in a Preview event. Default 120. */
  readonly previewChars?: number | undefined
}

const toRequest = (input: BatchInput): BatchRequest => (typeof input === "string" ? { prompt: input } : input)

/** Every request to every model, request-major. */
export const crossModels = (
  inputs: ReadonlyArray<BatchInput>,
  models: ReadonlyArray<string>
): Array<BatchRequest> => inputs.flatMap((input) => models.map((model) => ({ ...toRequest(input), model })))

/**
 * Runs the batch with the `LlmClient` in context. Never fails; each item is a `BatchResult`,
 * in input order.
 */
export const runBatch = (
  inputs: ReadonlyArray<BatchInput>,
  options: BatchOptions = {}
): Effect.Effect<Array<BatchResult>, never, LlmClient> =>
  Effect.gen(function*() {
    const llm = yield* LlmClient
    const requests = options.allModels ? crossModels(inputs, llm.models) : inputs.map(toRequest)
    const startMs = yield* Clock.currentTimeMillis
    const deadlineMs = options.deadline === undefined ? undefined : startMs + Duration.toMillis(options.deadline)
    const global = yield* Effect.makeSemaphore(Math.max(1, options.concurrency ?? 16))
    const perModel = new Map<string, Effect.Semaphore>()
    for (const r of requests) {
      if (r.model !== undefined && options.perModelConcurrency !== undefined && !perModel.has(r.model)) {
        perModel.set(r.model, yield* Effect.makeSemaphore(Math.max(1, options.perModelConcurrency)))
      }
    }
    const previewChars = options.previewChars ?? 120

    const item = (request: BatchRequest, index: number): Effect.Effect<BatchResult, never, LlmClient> =>
      Effect.gen(function*() {
        const progress = (event: BatchProgress) =>
          options.onProgress === undefined
            ? Effect.void
            : callUser(() => options.onProgress!(event)).pipe(
              Effect.catchAllCause((cause) => Effect.logWarning("llmBatch onProgress failed", cause)),
              Effect.asVoid
            )
        const itemStart = yield* Clock.currentTimeMillis
        const failure = (
          reason: BatchFailureReason,
          message: string,
          extra: { model?: string | undefined; attempts?: number; latencyMs?: number; reply?: LlmReply } = {}
        ) =>
          Effect.map(Clock.currentTimeMillis, (now): BatchFailure => ({
            _tag: "Failure",
            index,
            id: request.id,
            model: extra.model ?? request.model,
            reason,
            message,
            attempts: extra.attempts ?? 0,
            latencyMs: extra.latencyMs ?? now - itemStart,
            reply: extra.reply
          }))

        yield* progress({ _tag: "Started", index, model: request.model })
        const llmRequest: LlmRequest = {
          system: request.system ?? "",
          user: request.prompt,
          model: request.model,
          temperature: request.temperature,
          maxTokens: request.maxTokens
        }
        const timeout = request.timeout ?? options.timeout
        const call = llm.complete(llmRequest, (info) =>
          progress({
            _tag: "Retried",
            index,
            model: info.model,
            attempt: info.attempt,
            reason: info.reason,
            delayMs: info.delayMs
          }))
        const timed = timeout === undefined
          ? Effect.either(call)
          : call.pipe(
            Effect.either,
            Effect.timeoutTo({
              duration: timeout,
              onSuccess: (e) => Either.right(e),
              onTimeout: () => Either.left(undefined)
            }),
            Effect.map((e) => (Either.isLeft(e) ? ("timeout" as const) : e.right))
          )
        const outcome = yield* timed
        let result: BatchResult
        if (outcome === "timeout") {
          result = yield* failure("timeout", `no answer within ${Duration.format(Duration.decode(timeout!))}`)
        } else if (Either.isLeft(outcome)) {
          const e = outcome.left
          result = yield* failure(
            e.reason,
            e.message,
            e instanceof LlmCallError
              ? { model: e.model, attempts: e.attempts, latencyMs: e.latencyMs }
              : { attempts: e.attempts ?? 0 }
          )
        } else {
          const reply = outcome.right
          yield* progress({ _tag: "Preview", index, model: reply.model, text: reply.text.slice(0, previewChars) })
          const validate = request.validate ?? options.validate
          const verdict = validate === undefined
            ? Either.right<ValidationVerdict>(true)
            : yield* Effect.either(callUser(() => validate(reply.text, { index, model: reply.model })))
          const invalid = invalidReason(verdict)
          result = invalid !== undefined
            ? yield* failure("invalid_output", invalid, {
              model: reply.model,
              attempts: reply.attempts,
              latencyMs: reply.latencyMs,
              reply
            })
            : { _tag: "Success", index, id: request.id, model: reply.model, text: reply.text, reply }
        }
        yield* progress(result._tag === "Success" ? { _tag: "Succeeded", index, result } : { _tag: "Failed", index, result })
        return result
      }).pipe(Effect.withSpan("llmBatch.item", { attributes: { index, ...(request.model ? { model: request.model } : {}) } }))

    const bounded = (request: BatchRequest, index: number): Effect.Effect<BatchResult, never, LlmClient> => {
      const gate = request.model !== undefined ? perModel.get(request.model) : undefined
      const work = global.withPermits(1)(gate ? gate.withPermits(1)(item(request, index)) : item(request, index))
      const withDeadline = deadlineMs === undefined ? work : Effect.flatMap(Clock.currentTimeMillis, (now) =>
        work.pipe(
          Effect.timeoutTo({
            duration: Duration.millis(Math.max(0, deadlineMs - now)),
            onSuccess: (r): BatchResult => r,
            onTimeout: (): BatchResult => ({
              _tag: "Failure",
              index,
              id: request.id,
              model: request.model,
              reason: "deadline",
              message: `not finished before the batch deadline (${Duration.format(Duration.decode(options.deadline!))})`,
              attempts: 0,
              latencyMs: Math.max(0, deadlineMs - now),
              reply: undefined
            })
          })
        ))
      return withDeadline.pipe(
        Effect.onExit((exit) =>
          Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
            ? Effect.logError("llmBatch item defect", exit.cause)
            : Effect.void
        ),
        Effect.catchAllDefect((defect) =>
          Effect.succeed<BatchResult>({
            _tag: "Failure",
            index,
            id: request.id,
            model: request.model,
            reason: "malformed",
            message: `internal error: ${describe(defect)}`,
            attempts: 0,
            latencyMs: 0,
            reply: undefined
          })
        )
      )
    }

    return yield* Effect.forEach(requests, bounded, { concurrency: "unbounded" })
  }).pipe(Effect.withSpan("llmBatch", { attributes: { size: inputs.length } }))
