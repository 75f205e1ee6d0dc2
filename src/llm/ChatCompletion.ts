/**
 * The Chat Completions response as servers send it (decoded tolerantly: missing `usage`,
 * `content: null`, `reasoning_content` / `reasoning`, content as an array of parts, unknown extra
 * fields, any `finish_reason`), and what evolve takes from it: the reply a call needs
 * (`toChatReply`) or @effect/ai response parts for the `LanguageModel` (`toResponseParts`).
 */
import type * as Response from "@effect/ai/Response"
import { Schema } from "effect"

// -----------------------------------------------------------------------------
// Wire schemas (tolerant)
// -----------------------------------------------------------------------------

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const ContentPart = Schema.Struct({
  type: optionalNullable(Schema.String),
  text: optionalNullable(Schema.String)
})

const ChatMessageOut = Schema.Struct({
  role: optionalNullable(Schema.String),
  content: optionalNullable(Schema.Union(Schema.String, Schema.Array(Schema.Union(ContentPart, Schema.Unknown)))),
  reasoning_content: optionalNullable(Schema.String),
  reasoning: optionalNullable(Schema.String),
  refusal: optionalNullable(Schema.String)
})

const Choice = Schema.Struct({
  index: optionalNullable(Schema.Number),
  message: optionalNullable(ChatMessageOut),
  /** Legacy completions-style servers put the text here. */
  text: optionalNullable(Schema.String),
  finish_reason: optionalNullable(Schema.String)
})

const Usage = Schema.Struct({
  prompt_tokens: optionalNullable(Schema.Number),
  completion_tokens: optionalNullable(Schema.Number),
  total_tokens: optionalNullable(Schema.Number),
  prompt_tokens_details: optionalNullable(Schema.Struct({ cached_tokens: optionalNullable(Schema.Number) })),
  completion_tokens_details: optionalNullable(Schema.Struct({ reasoning_tokens: optionalNullable(Schema.Number) }))
})

const ErrorBody = Schema.Struct({
  message: optionalNullable(Schema.String),
  code: optionalNullable(Schema.Union(Schema.Number, Schema.String)),
  type: optionalNullable(Schema.String)
})

export const ChatCompletion = Schema.Struct({
  id: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  created: optionalNullable(Schema.Number),
  choices: optionalNullable(Schema.Array(Choice)),
  usage: optionalNullable(Usage),
  error: optionalNullable(Schema.Union(ErrorBody, Schema.String))
})
export type ChatCompletion = typeof ChatCompletion.Type

export const decodeChatCompletion = Schema.decodeUnknownEither(Schema.parseJson(ChatCompletion))

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

const contentText = (content: typeof ChatMessageOut.Type["content"]): string => {
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

