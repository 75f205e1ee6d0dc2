/**
 * llmBatch: many prompts across many models at once, outside (or inside) evolution runs.
 *
 * - Effect form {@link runBatch}: needs an `LlmClient` (per-model concurrency, AIMD, breaker,
 *   retries, cost, cache all apply); Promise form {@link llmBatch}: builds its own
 *   `ManagedRuntime` per call (disposed after) from `options` unless given a runtime, or reuses
 *   the caller's when called from inside a running Effect or from a callback of another batch.
 * - Results come back in input order, one per request: a success, or a typed failure
 *   (`reason`: an LLM error reason, "timeout" for the per-request timeout, "deadline" for items
 *   unfinished at the overall deadline, "invalid_output" for a reply that failed its validator,
 *   never retried). A partial failure never fails the batch.
 * - Concurrency: `concurrency` items at once overall (default 16), optionally
 *   `perModelConcurrency` per pinned model, on top of the client's own per-model limits.
 * - Progress: `onProgress` receives Started, Retried, Preview (the first characters of the
 *   reply, before validation), Succeeded and Failed events.
 * - Validators may be synchronous, return a Promise or an Effect; they may call llmBatch again
 *   (nested batches share the outer client and its limits, and their spans are children of the
 *   item's span).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { AsyncLocalStorage } from "node:async_hooks"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  ManagedRuntime,
  Option,
  Redacted,
  Runtime,
  Schema,
  type Tracer
} from "effect"
import type { LlmErrorReason } from "../domain/Errors.js"
import { LlmConfig } from "../domain/RunConfig.js"
import { LlmCallError, LlmClient, type LlmReply, type LlmRequest } from "./LlmClient.js"
import * as LlmClientLive from "./LlmClientLive.js"
import { codeBlocks } from "./OfflineModel.js"

// -----------------------------------------------------------------------------
// Types
// -----------------------------------------------------------------------------

/** `true`, `undefined` or nothing: valid. `false`: invalid. A string: invalid, with that reason. */
export type ValidationVerdict = boolean | string | undefined | void

export interface ValidationContext {
  readonly index: number
  readonly model: string
}

export type Validator = (
  text: string,
  context: ValidationContext
) => ValidationVerdict | PromiseLike<ValidationVerdict> | Effect.Effect<ValidationVerdict, unknown, never>

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

// -----------------------------------------------------------------------------
// Validators
// -----------------------------------------------------------------------------

/** The code of a reply: its longest fenced code block, else the whole text. */
export const extractCode = (text: string): { readonly code: string; readonly language: string } => {
  const blocks = codeBlocks(text)
  if (blocks.length === 0) return { code: text, language: "" }
  const longest = blocks.reduce((a, b) => (b.code.length > a.code.length ? b : a))
  return { code: longest.code, language: longest.info }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Whether `code` defines `name` as a function, method, class or bound value (Python, JS/TS, Go, Rust, C-like…). */
export const definesSymbol = (code: string, name: string): boolean => {
  const n = escapeRegExp(name)
  const patterns = [
    String.raw`\b(?:async\s+)?def\s+${n}\s*\(`,
    String.raw`\bfunction\s*\*?\s*${n}\s*[(<]`,
    String.raw`\b(?:const|let|var)\s+${n}\s*[:=]`,
    String.raw`^\s*${n}\s*=(?!=)`,
    String.raw`\bclass\s+${n}\b`,
    String.raw`\b(?:fn|func|fun)\s+(?:\([^)]*\)\s*)?${n}\s*[(<]`,
    String.raw`^\s*(?:(?:public|private|protected|static|async|export|default|inline|virtual|override)\s+)*[\w<>\[\],:*&\s]+?\b${n}\s*\([^;]*\)\s*(?:const\s*)?\{`,
    String.raw`^\s*(?:(?:public|private|protected|static|async)\s+)*${n}\s*\([^)]*\)\s*\{`
  ]
  return patterns.some((p) => new RegExp(p, "m").test(code))
}

/** A validator: the reply's code must define `name` (e.g. "execute_trade"). */
export const requireSymbol = (name: string): Validator => (text) =>
  definesSymbol(extractCode(text).code, name) ? true : `the response does not define ${name}`

// -----------------------------------------------------------------------------
// Effect form
// -----------------------------------------------------------------------------

/** What a nested llmBatch (Promise form) called from a validator or callback picks up. */
interface BatchScope {
  readonly runtime: Runtime.Runtime<LlmClient>
}
const batchScope = new AsyncLocalStorage<BatchScope>()

const toRequest = (input: BatchInput): BatchRequest => (typeof input === "string" ? { prompt: input } : input)

const isEffect = (u: unknown): u is Effect.Effect<unknown, unknown, never> => Effect.isEffect(u)
const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Runs a user callback inside the batch's async scope; its result may be a value, a Promise or an Effect. */
const callUser = <A>(
  scope: BatchScope,
  f: () => A | PromiseLike<A> | Effect.Effect<A, unknown, never>
): Effect.Effect<A, unknown> =>
  Effect.suspend(() => {
    const out = batchScope.run(scope, f)
    if (isEffect(out)) return out as Effect.Effect<A, unknown>
    if (isThenable(out)) return Effect.tryPromise({ try: () => Promise.resolve(out), catch: (e) => e })
    return Effect.succeed(out as A)
  })

const describe = (u: unknown): string => (u instanceof Error ? u.message : typeof u === "string" ? u : String(u))

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
        const runtime = yield* Effect.runtime<LlmClient>()
        const scope: BatchScope = { runtime }
        const progress = (event: BatchProgress) =>
          options.onProgress === undefined
            ? Effect.void
            : callUser(scope, () => options.onProgress!(event)).pipe(
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
              ? { model: e.model, attempts: e.attempts ?? 0, latencyMs: e.latencyMs }
              : { attempts: e.attempts ?? 0 }
          )
        } else {
          const reply = outcome.right
          yield* progress({ _tag: "Preview", index, model: reply.model, text: reply.text.slice(0, previewChars) })
          const validate = request.validate ?? options.validate
          const verdict = validate === undefined
            ? Either.right<ValidationVerdict>(true)
            : yield* Effect.either(callUser(scope, () => validate(reply.text, { index, model: reply.model })))
          const invalid = Either.isLeft(verdict)
            ? `validator failed: ${describe(verdict.left)}`
            : verdict.right === false
            ? "the response failed validation"
            : typeof verdict.right === "string"
            ? verdict.right
            : undefined
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

// -----------------------------------------------------------------------------
// Promise form
// -----------------------------------------------------------------------------

/** A model for the Promise form: a name, or an `llm.models` entry (snake_case, as in evolve.yaml). */
export type BatchModel = string | (typeof LlmConfig.Encoded extends { readonly models?: infer M } ? M extends ReadonlyArray<infer E> ? E : never : never)

export interface LlmBatchOptions extends BatchOptions {
  /** Models to use; requests may also name models not listed (they inherit the shared settings). */
  readonly models?: ReadonlyArray<BatchModel> | undefined
  /** OpenAI-compatible base URL shared by the models (default https://api.openai.com/v1). */
  readonly baseUrl?: string | undefined
  /** The API key (else read from `llm.api_key_env`, default OPENAI_API_KEY). Never logged. */
  readonly apiKey?: string | Redacted.Redacted | undefined
  /** Default "openai-chat". */
  readonly provider?: LlmConfig["provider"] | undefined
  /** Any other `llm` settings, snake_case as in evolve.yaml (prices, retries, selection, …). */
  readonly llm?: Partial<typeof LlmConfig.Encoded> | undefined
  /** Run on this runtime (its LlmClient and limits) instead of building one. */
  readonly runtime?: ManagedRuntime.ManagedRuntime<LlmClient, unknown> | Runtime.Runtime<LlmClient> | undefined
  /** Parent span of the batch's spans (default: the calling fiber's or enclosing batch's span). */
  readonly parentSpan?: Tracer.AnySpan | undefined
  readonly signal?: AbortSignal | undefined
}

const configKeys = ["models", "baseUrl", "apiKey", "provider", "llm"] as const

/** The `LlmConfig` the Promise form builds from its options (exported for tests and the CLI). */
export const configFromOptions = (
  inputs: ReadonlyArray<BatchInput>,
  options: Pick<LlmBatchOptions, "models" | "baseUrl" | "provider" | "llm">
): Effect.Effect<LlmConfig, Error> => {
  const listed = (options.models ?? []).map((m) => (typeof m === "string" ? { model: m } : m))
  const names = new Set(listed.map((m) => m.name ?? m.model))
  for (const input of inputs) {
    const model = typeof input === "string" ? undefined : input.model
    if (model !== undefined && !names.has(model)) {
      // Named only by requests: reachable when pinned, never chosen for unpinned requests
      // (unless no model is listed at all: then all weights are 0 and the choice is uniform).
      names.add(model)
      listed.push({ model, weight: 0 })
    }
  }
  const raw = {
    provider: options.provider ?? "openai-chat",
    ...(options.baseUrl !== undefined ? { base_url: options.baseUrl } : {}),
    ...options.llm,
    ...(listed.length > 0 ? { models: listed } : {})
  }
  return Schema.decodeUnknown(LlmConfig, { onExcessProperty: "error" })(raw).pipe(
    Effect.mapError((e) => new Error(`llmBatch: invalid options: ${e.message}`))
  )
}

/** The client layer the Promise form runs on (Node HTTP client, no cache, no recording). */
export const clientLayer = (
  config: LlmConfig,
  apiKey?: string | Redacted.Redacted
): Layer.Layer<LlmClient> =>
  LlmClientLive.layer(
    config,
    apiKey === undefined
      ? Option.none()
      : Option.some(typeof apiKey === "string" ? Redacted.make(apiKey) : apiKey)
  ).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provide(NodeContext.layer))

const fiberRuntime = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Runtime.Runtime<LlmClient> | undefined =>
  Context.getOption(fiber.currentContext as Context.Context<LlmClient>, LlmClient).pipe(Option.isSome)
    ? Runtime.make({
      context: fiber.currentContext as Context.Context<LlmClient>,
      fiberRefs: fiber.getFiberRefs(),
      runtimeFlags: Runtime.defaultRuntimeFlags
    })
    : undefined

/**
 * The Promise form. Resolves to one `BatchResult` per request, in input order; rejects only on
 * invalid options or when `signal` aborts. Safe from Promise code, from inside a running Effect
 * (it joins the calling fiber's LlmClient and span when present), from an evaluator callback,
 * and nested inside another batch's validator or callback.
 */
export const llmBatch = (
  inputs: ReadonlyArray<BatchInput>,
  options: LlmBatchOptions = {}
): Promise<Array<BatchResult>> => {
  const fiber = Option.getOrUndefined(Fiber.getCurrentFiber())
  const enclosing = batchScope.getStore()
  const parentSpan = options.parentSpan ?? fiber?.currentSpan ?? undefined
  const configured = configKeys.some((k) => options[k] !== undefined)
  const batch = runBatch(inputs, options)
  const rooted = parentSpan === undefined ? batch : Effect.withParentSpan(batch, parentSpan)
  const runOptions = options.signal !== undefined ? { signal: options.signal } : undefined

  const given = options.runtime ??
    (configured ? undefined : (fiber !== undefined ? fiberRuntime(fiber) : undefined) ?? enclosing?.runtime)
  if (given !== undefined) {
    return ManagedRuntime.isManagedRuntime(given)
      ? (given as ManagedRuntime.ManagedRuntime<LlmClient, unknown>).runPromise(rooted, runOptions)
      : Runtime.runPromise(given as Runtime.Runtime<LlmClient>, rooted, runOptions)
  }
  return Effect.runPromise(configFromOptions(inputs, options)).then((config) => {
    const runtime = ManagedRuntime.make(clientLayer(config, options.apiKey))
    return runtime.runPromise(rooted, runOptions).finally(() => runtime.dispose())
  })
}

/** `llmBatch` as an Effect that builds its own client from `options` (scoped to the call). */
export const llmBatchEffect = (
  inputs: ReadonlyArray<BatchInput>,
  options: Omit<LlmBatchOptions, "runtime" | "signal" | "parentSpan"> = {}
): Effect.Effect<Array<BatchResult>, Error, HttpClient.HttpClient> =>
  Effect.flatMap(configFromOptions(inputs, options), (config) =>
    runBatch(inputs, options).pipe(
      Effect.provide(
        LlmClientLive.layer(
          config,
          options.apiKey === undefined
            ? Option.none()
            : Option.some(typeof options.apiKey === "string" ? Redacted.make(options.apiKey) : options.apiKey)
        )
      )
    ))
