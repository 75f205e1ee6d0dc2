/**
 * The Chat Completions response as servers send it (decoded tolerantly: missing `usage`,
 * `content: null`, `reasoning_content` / `reasoning`, content as an array of parts, unknown extra
 * fields, any `finish_reason`), and what evolve takes from it: the reply a call needs
 * (`toChatReply`) or @effect/ai response parts for the `LanguageModel` (`toResponseParts`).
 */
import type * as Response from "@effect/ai/Response"
import { Either } from "effect"
import { isRecord } from "effect/Predicate"

// -----------------------------------------------------------------------------
// Wire format (tolerant)
// -----------------------------------------------------------------------------

/** A field that may be missing or null. */
type Maybe<A> = A | null | undefined

interface ContentPart {
  readonly type?: Maybe<string>
  readonly text?: Maybe<string>
}

interface ChatMessageOut {
  readonly role?: Maybe<string>
  /** Text, or parts: those shaped like `{ type, text }` are kept as such, anything else as it came. */
  readonly content?: Maybe<string | ReadonlyArray<ContentPart | unknown>>
  readonly reasoning_content?: Maybe<string>
  readonly reasoning?: Maybe<string>
  readonly refusal?: Maybe<string>
}

interface Choice {
  readonly index?: Maybe<number>
  readonly message?: Maybe<ChatMessageOut>
  /** Legacy completions-style servers put the text here. */
  readonly text?: Maybe<string>
  readonly finish_reason?: Maybe<string>
}

interface Usage {
  readonly prompt_tokens?: Maybe<number>
  readonly completion_tokens?: Maybe<number>
  readonly total_tokens?: Maybe<number>
  readonly prompt_tokens_details?: Maybe<{ readonly cached_tokens?: Maybe<number> }>
  readonly completion_tokens_details?: Maybe<{ readonly reasoning_tokens?: Maybe<number> }>
}

interface ErrorBody {
  readonly message?: Maybe<string>
  readonly code?: Maybe<number | string>
  readonly type?: Maybe<string>
}

export interface ChatCompletion {
  readonly id?: Maybe<string>
  readonly model?: Maybe<string>
  readonly created?: Maybe<number>
  readonly choices?: Maybe<ReadonlyArray<Choice>>
  readonly usage?: Maybe<Usage>
  readonly error?: Maybe<ErrorBody | string>
}

// Decoded by hand rather than with Schema: once per LLM call, in code too seldom run for V8 to
// optimize, Schema's decoder cost ~0.1 ms (profiled on the warm workload). The schema this
// implements is in test/llm/ChatCompletion.test.ts, which checks the two agree.

type Fields = Record<string, unknown>
/** A field's decoder: its value, or `invalid`. */
type Field = (u: unknown) => unknown

const invalid: unique symbol = Symbol("invalid")
const string: Field = (u) => (typeof u === "string" ? u : invalid)
const number: Field = (u) => (typeof u === "number" ? u : invalid)

/** An object of optional, nullable fields: only those fields, each checked; `invalid` when one is not valid. */
const struct = (fields: Record<string, Field>): Field => {
  const names = Object.keys(fields)
  return (u) => {
    if (!isRecord(u)) return invalid
    const out: Fields = {}
    for (const name of names) {
      if (!Object.hasOwn(u, name)) continue
      const value = u[name]
      if (value === null) {
        out[name] = null
        continue
      }
      const decoded = fields[name]!(value)
      if (decoded === invalid) return invalid
      out[name] = decoded
    }
    return out
  }
}

const contentPart = struct({ type: string, text: string })
const content: Field = (u) => {
  if (typeof u === "string") return u
  if (!Array.isArray(u)) return invalid
  return u.map((part) => {
    const decoded = contentPart(part)
    return decoded === invalid ? part : decoded
  })
}
const choice = struct({
  index: number,
  message: struct({ role: string, content, reasoning_content: string, reasoning: string, refusal: string }),
  text: string,
  finish_reason: string
})
const choices: Field = (u) => {
  if (!Array.isArray(u)) return invalid
  const out: Array<unknown> = []
  for (const item of u) {
    const decoded = choice(item)
    if (decoded === invalid) return invalid
    out.push(decoded)
  }
  return out
}
const errorBody = struct({ message: string, code: (u) => (typeof u === "number" || typeof u === "string" ? u : invalid), type: string })
const completion = struct({
  id: string,
  model: string,
  created: number,
  choices,
  usage: struct({
    prompt_tokens: number,
    completion_tokens: number,
    total_tokens: number,
    prompt_tokens_details: struct({ cached_tokens: number }),
    completion_tokens_details: struct({ reasoning_tokens: number })
  }),
  error: (u) => (typeof u === "string" ? u : errorBody(u))
})

/** A response body as a completion; Left when it is not JSON or not shaped like one. */
export const decodeChatCompletion = (body: string): Either.Either<ChatCompletion, "not JSON" | "not a chat completion"> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return Either.left("not JSON")
  }
  const decoded = completion(json)
  return decoded === invalid ? Either.left("not a chat completion") : Either.right(decoded as ChatCompletion)
}

// -----------------------------------------------------------------------------
// Response side
// -----------------------------------------------------------------------------

const mapFinishReason = (reason: string | null | undefined): Response.FinishReason => {
  switch (reason) {
    case "stop":
    case "eos":
    case "end_turn":
      return "stop"
    case "length":
    case "max_tokens":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

const contentText = (content: ChatMessageOut["content"]): string => {
  if (content === null || content === undefined) return ""
  if (typeof content === "string") return content
  return content
    .map((part) =>
      typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : ""
    )
    .join("")
}

const num = (n: number | null | undefined): number | undefined => (typeof n === "number" && Number.isFinite(n) ? n : undefined)

/** What a call needs of a completion: its text (else its reasoning), usage and finish reason. */
export interface ChatReply {
  readonly text: string
  readonly reasoning: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly finishReason: Response.FinishReason
}

export const toChatReply = (completion: ChatCompletion): ChatReply => {
  const choice = completion.choices?.[0]
  return {
    text: choice?.message ? contentText(choice.message.content) : (choice?.text ?? ""),
    reasoning: choice?.message?.reasoning_content ?? choice?.message?.reasoning ?? "",
    inputTokens: num(completion.usage?.prompt_tokens),
    outputTokens: num(completion.usage?.completion_tokens),
    finishReason: mapFinishReason(choice?.finish_reason)
  }
}

/** Turns a decoded completion into @effect/ai response parts (text, reasoning, metadata, finish). */
export const toResponseParts = (completion: ChatCompletion): Array<Response.PartEncoded> => {
  const choice = completion.choices?.[0]
  const parts: Array<Response.PartEncoded> = []
  const metadata: { id?: string; modelId?: string } = {}
  if (completion.id) metadata.id = completion.id
  if (completion.model) metadata.modelId = completion.model
  parts.push({ type: "response-metadata", ...metadata })
  const reasoning = choice?.message?.reasoning_content ?? choice?.message?.reasoning ?? ""
  if (reasoning.length > 0) parts.push({ type: "reasoning", text: reasoning })
  const text = choice?.message ? contentText(choice.message.content) : (choice?.text ?? "")
  if (text.length > 0) parts.push({ type: "text", text })
  const usage = completion.usage
  const inputTokens = num(usage?.prompt_tokens)
  const outputTokens = num(usage?.completion_tokens)
  const totalTokens = num(usage?.total_tokens) ??
    (inputTokens !== undefined && outputTokens !== undefined ? inputTokens + outputTokens : undefined)
  const reasoningTokens = num(usage?.completion_tokens_details?.reasoning_tokens)
  const cachedInputTokens = num(usage?.prompt_tokens_details?.cached_tokens)
  parts.push({
    type: "finish",
    reason: mapFinishReason(choice?.finish_reason),
    usage: {
      inputTokens,
      outputTokens,
      totalTokens,
      ...(reasoningTokens !== undefined ? { reasoningTokens } : {}),
      ...(cachedInputTokens !== undefined ? { cachedInputTokens } : {})
    }
  })
  return parts
}

