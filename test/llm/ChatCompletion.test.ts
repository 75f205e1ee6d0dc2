import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { decodeChatCompletion, toChatReply } from "../../src/llm/ChatCompletion.js"
import { mutatedTexts } from "../support/jsonMutations.js"

// The tolerant wire format as a schema: the specification the hand-written decoder must match.
const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))
const ContentPart = Schema.Struct({ type: optionalNullable(Schema.String), text: optionalNullable(Schema.String) })
const Choice = Schema.Struct({
  index: optionalNullable(Schema.Number),
  message: optionalNullable(Schema.Struct({
    role: optionalNullable(Schema.String),
    content: optionalNullable(Schema.Union(Schema.String, Schema.Array(Schema.Union(ContentPart, Schema.Unknown)))),
    reasoning_content: optionalNullable(Schema.String),
    reasoning: optionalNullable(Schema.String),
    refusal: optionalNullable(Schema.String)
  })),
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
const ChatCompletion = Schema.Struct({
  id: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  created: optionalNullable(Schema.Number),
  choices: optionalNullable(Schema.Array(Choice)),
  usage: optionalNullable(Usage),
  error: optionalNullable(Schema.Union(ErrorBody, Schema.String))
})
const reference = Schema.decodeUnknownEither(Schema.parseJson(ChatCompletion))

const bodies: ReadonlyArray<unknown> = [
  {
    id: "chatcmpl-9x",
    object: "chat.completion",
    created: 1_765_000_000,
    model: "gpt-4o-mini",
    choices: [{
      index: 0,
      message: { role: "assistant", content: "```python\nprint(1)\n```", refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: "stop"
    }],
    usage: {
      prompt_tokens: 812,
      completion_tokens: 96,
      total_tokens: 908,
      prompt_tokens_details: { cached_tokens: 512, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 0 }
    },
    system_fingerprint: "fp_1"
  },
  {
    id: "r1",
    model: "deepseek-reasoner",
    choices: [{ index: 0, message: { role: "assistant", content: null, reasoning_content: "thinking…" }, finish_reason: "length" }],
    usage: null
  },
  { choices: [{ message: { content: [{ type: "text", text: "a" }, { type: "image", url: "x" }, 7, "b"] } }] },
  { choices: [{ text: "legacy completion", finish_reason: null }] },
  { choices: [], error: { message: "upstream overloaded", code: 503, type: "server_error", metadata: {} } },
  { error: "rate limited" }
]

const decode = (body: string) => {
  const decoded = decodeChatCompletion(body)
  return Either.isRight(decoded) ? decoded.right : undefined
}
const expected = (body: string) => {
  const decoded = reference(body)
  return Either.isRight(decoded) ? decoded.right : undefined
}

describe("ChatCompletion.decodeChatCompletion", () => {
  it("decodes the shapes servers send as the schema does", () => {
    for (const body of bodies) {
      const text = JSON.stringify(body)
      expect(decode(text)).toBeDefined()
      expect(decode(text)).toEqual(expected(text))
    }
    expect(toChatReply(decode(JSON.stringify(bodies[0]))!)).toEqual({
      text: "```python\nprint(1)\n```",
      reasoning: "",
      inputTokens: 812,
      outputTokens: 96,
      finishReason: "stop"
    })
    expect(toChatReply(decode(JSON.stringify(bodies[2]))!).text).toBe("a")
  })

  it("rejects and strips exactly what the schema does, on 10,000 mutated bodies", () => {
    let rejected = 0
    for (const text of mutatedTexts(bodies, 11, 10_000)) {
      const want = expected(text)
      if (want === undefined) rejected++
      expect(decode(text), text).toEqual(want)
    }
    expect(rejected).toBeGreaterThan(1_000)
    expect(rejected).toBeLessThan(9_000)
  })

  it("tells a body that is not JSON from one that is not a completion", () => {
    expect(decodeChatCompletion("<html>502 Bad Gateway</html>")).toEqual(Either.left("not JSON"))
    expect(decodeChatCompletion("[1]")).toEqual(Either.left("not a chat completion"))
    expect(decodeChatCompletion("{\"choices\": \"none\"}")).toEqual(Either.left("not a chat completion"))
  })
})
