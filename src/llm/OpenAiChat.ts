/**
 * An @effect/ai `LanguageModel` over the OpenAI Chat Completions API
 * (`POST {baseUrl}/chat/completions`), the dialect spoken by vLLM, Ollama, llama.cpp,
 * LM Studio, OpenRouter, Together, Groq and most gateways.
 *
 * Decoding (ChatCompletion.ts) is deliberately tolerant: missing `usage`, `content: null`, `reasoning_content` /
 * `reasoning`, content given as an array of parts, unknown extra fields and any
 * `finish_reason` all decode. Failures are @effect/ai `AiError` values:
 * - transport failures (including a connection lost while reading the body) → `HttpRequestError`
 *   with reason "Transport";
 * - non-2xx statuses (and `{ "error": … }` bodies sent with status 200) → `HttpResponseError`
 *   carrying `response.status` and `response.headers` (so `Retry-After` can be honoured);
 * - undecodable bodies → `MalformedOutput`;
 * - a response without any choice → `UnknownError` whose description is {@link EmptyResponseDescription}.
 *
 * The API key is only ever added to the outgoing request. Errors carry a scrubbed copy of the
 * request (no Authorization value, no URL credentials or query string) and never the platform
 * error itself, whose request object holds the real header.
 */
import * as AiError from "@effect/ai/AiError"
import type * as IdGenerator from "@effect/ai/IdGenerator"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Effect, FiberRef, Layer, Option, Redacted, Stream } from "effect"
import { type ChatCompletion, decodeChatCompletion, toResponseParts } from "./ChatCompletion.js"

export { ChatCompletion, type ChatReply, toChatReply, toResponseParts } from "./ChatCompletion.js"

export interface OpenAiChatOptions {
  /** e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1` (no trailing `/chat/completions`). */
  readonly baseUrl: string
  readonly model: string
  /** Sent as `Authorization: Bearer …` when present; local servers usually need none. */
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly temperature: number
  readonly maxTokens: number
  /** Extra fields merged into every request body (e.g. `top_p`, `seed`); they cannot replace `messages`. */
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
}

/** Per-call parameter overrides (set with {@link withCallOverrides}), e.g. a batch item's temperature. */
export interface CallOverrides {
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
}

export const currentCallOverrides: FiberRef.FiberRef<CallOverrides> = FiberRef.unsafeMake<CallOverrides>({})

/** Runs `effect` with these request parameters overriding the model's configured ones. */
export const withCallOverrides = (overrides: CallOverrides) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.locally(effect, currentCallOverrides, overrides)

const MODULE = "OpenAiChat"

/** The `description` of the `UnknownError` returned when a 2xx response holds no choice. */
export const EmptyResponseDescription = "empty response: the server returned no choices"

// -----------------------------------------------------------------------------
// Request side
// -----------------------------------------------------------------------------

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/** Converts a prompt to chat messages: text parts only (files, tool calls and results are dropped). */
export const toChatMessages = (prompt: Prompt.Prompt): Array<ChatMessage> => {
  const messages: Array<ChatMessage> = []
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        messages.push({ role: "system", content: message.content })
        break
      case "user":
      case "assistant": {
        const text = message.content.flatMap((part) => part.type === "text" ? [part.text] : []).join("\n")
        messages.push({ role: message.role, content: text })
        break
      }
      case "tool":
        break
    }
  }
  return messages
}

/** The JSON body sent to `/chat/completions`. */
export const makeRequestBody = (
  options: OpenAiChatOptions,
  prompt: Prompt.Prompt | ReadonlyArray<ChatMessage>,
  overrides: CallOverrides = {}
) => {
  // api.openai.com rejects `max_tokens` for reasoning models; everyone else knows `max_tokens`.
  const tokensField = tokensFieldOf(options.baseUrl)
  return {
    temperature: overrides.temperature ?? options.temperature,
    [tokensField]: overrides.maxTokens ?? options.maxTokens,
    ...options.extraBody,
    model: options.model,
    messages: Array.isArray(prompt) ? prompt : toChatMessages(prompt as Prompt.Prompt),
    stream: false
  }
}

const tokensFields = new Map<string, string>()
const tokensFieldOf = (baseUrl: string): string => {
  let field = tokensFields.get(baseUrl)
  if (field === undefined) {
    field = isOpenAiHost(baseUrl) ? "max_completion_tokens" : "max_tokens"
    tokensFields.set(baseUrl, field)
  }
  return field
}

const isOpenAiHost = (url: string): boolean => {
  try {
    return new URL(url).hostname === "api.openai.com"
  } catch {
    return false
  }
}

/** The URL without credentials or query string, safe to put in an error. */
export const scrubUrl = (url: string): string => {
  try {
    const u = new URL(url)
    u.username = ""
    u.password = ""
    u.search = ""
    u.hash = ""
    return u.toString()
  } catch {
    return url.replace(/[?#].*$/, "").replace(/\/\/[^@/]*@/, "//")
  }
}

/** Replaces every occurrence of the key in `text` (defence in depth: servers may echo headers). */
export const scrubSecret = (text: string, apiKey: Option.Option<Redacted.Redacted>): string => {
  if (Option.isNone(apiKey)) return text
  const secret = Redacted.value(apiKey.value)
  return secret.length >= 4 ? text.split(secret).join("<redacted>") : text
}

// -----------------------------------------------------------------------------
// The model
// -----------------------------------------------------------------------------

const BODY_SNIPPET_CHARS = 2_000

/**
 * One Chat Completions request: the messages, with per-call overrides, to the decoded completion.
 * The engine calls it directly (no @effect/ai prompt and response decoding on the hot path);
 * {@link make} wraps it as a `LanguageModel`.
 */
export type Chat = (
  method: string,
  messages: ReadonlyArray<ChatMessage>,
  overrides: CallOverrides
) => Effect.Effect<ChatCompletion, AiError.AiError>

/** Builds the {@link Chat} of these options; needs an `HttpClient`. */
export const makeChat = (options: OpenAiChatOptions): Effect.Effect<Chat, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const httpClient = yield* HttpClient.HttpClient
    const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`
    const requestDetails = {
      method: "POST" as const,
      url: scrubUrl(url),
      urlParams: [] as Array<[string, string]>,
      hash: Option.none<string>(),
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(Option.isSome(options.apiKey) ? { authorization: "<redacted>" } : {})
      }
    }
    const scrub = (text: string) => scrubSecret(text, options.apiKey)

    const transportError = (method: string, description: string) =>
      new AiError.HttpRequestError({
        module: MODULE,
        method,
        reason: "Transport",
        request: requestDetails,
        description: scrub(description)
      })

    const responseError = (
      method: string,
      response: HttpClientResponse.HttpClientResponse,
      body: string,
      description: string,
      status = response.status
    ) =>
      new AiError.HttpResponseError({
        module: MODULE,
        method,
        reason: "StatusCode",
        request: requestDetails,
        response: { status, headers: { ...response.headers } },
        body: scrub(body.slice(0, BODY_SNIPPET_CHARS)),
        description: scrub(description)
      })

    const describe = (error: { readonly description?: string | undefined; readonly cause?: unknown }): string => {
      const cause = error.cause
      const causeMessage = cause instanceof Error
        ? (cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message)
        : undefined
      return error.description ?? causeMessage ?? "request failed"
    }

    const chat: Chat = (method, messages, overrides) =>
      Effect.gen(function*() {
        let request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUnsafeJson(makeRequestBody(options, messages, overrides))
        )
        if (Option.isSome(options.apiKey)) request = HttpClientRequest.bearerToken(request, options.apiKey.value)

        const response = yield* httpClient.execute(request).pipe(
          Effect.mapError((error) => transportError(method, describe(error))),
          // The client's span records every request and response header; the platform redacts only
          // a few names (authorization, cookie, …). A gateway that echoes the key in a response header
          // would put it in --debug output and OTLP exports: redact every header value.
          Effect.locally(Headers.currentRedactedNames, [/./])
        )
        const body = yield* response.text.pipe(
          Effect.mapError((error) => transportError(method, `connection lost while reading the response: ${describe(error)}`))
        )
        if (response.status < 200 || response.status >= 300) {
          return yield* responseError(method, response, body, `HTTP ${response.status}`)
        }
        const decoded = decodeChatCompletion(body)
        if (decoded._tag === "Left") {
          return yield* new AiError.MalformedOutput({
            module: MODULE,
            method,
            description: scrub(
              `could not decode the chat completion (${body.length} chars): ${body.slice(0, 200)}`
            )
          })
        }
        const completion = decoded.right
        const choices = completion.choices ?? []
        if (choices.length === 0 && completion.error !== undefined && completion.error !== null) {
          // Some gateways (OpenRouter) report upstream failures as a 200 with an `error` object.
          const err = completion.error
          const code = typeof err === "string" ? undefined : err.code
          const status = typeof code === "number" && code >= 400 && code < 600 ? code : 502
          const message = typeof err === "string" ? err : (err.message ?? "upstream error")
          return yield* responseError(method, response, body, `error in response body: ${message}`, status)
        }
        if (choices.length === 0) {
          return yield* new AiError.UnknownError({ module: MODULE, method, description: EmptyResponseDescription })
        }
        return completion
      })
    return chat
  })

/** Builds the LanguageModel service; needs an `HttpClient`. */
export const make = (options: OpenAiChatOptions): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const chat = yield* makeChat(options)
    const call = (method: string, prompt: Prompt.Prompt) =>
      Effect.flatMap(FiberRef.get(currentCallOverrides), (overrides) =>
        Effect.map(chat(method, toChatMessages(prompt), overrides), toResponseParts))

    const generateText = (providerOptions: LanguageModel.ProviderOptions) =>
      call("generateText", providerOptions.prompt)

    // Simple streaming: one non-streaming call replayed as stream parts.
    const streamText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError, IdGenerator.IdGenerator> =>
      Stream.fromIterableEffect(
        Effect.map(call("streamText", providerOptions.prompt), (parts) => {
          const out: Array<Response.StreamPartEncoded> = []
          parts.forEach((part, i) => {
            if (part.type === "text") {
              const id = `text_${i}`
              out.push({ type: "text-start", id }, { type: "text-delta", id, delta: part.text }, { type: "text-end", id })
            } else if (part.type === "reasoning") {
              const id = `reasoning_${i}`
              out.push(
                { type: "reasoning-start", id },
                { type: "reasoning-delta", id, delta: part.text },
                { type: "reasoning-end", id }
              )
            } else if (part.type === "finish" || part.type === "response-metadata") {
              out.push(part)
            }
          })
          return out
        })
      )

    return yield* LanguageModel.make({ generateText, streamText })
  })

/** The Chat Completions provider as a layer; the host supplies the `HttpClient`. */
export const layer = (
  options: OpenAiChatOptions
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))
