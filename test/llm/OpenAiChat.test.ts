import type { AiError } from "@effect/ai"
import { LanguageModel } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as OpenAiChat from "../../src/llm/OpenAiChat.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import {
  defaultAnswer,
  fakeOpenAiServer,
  type FakeOpenAiServer,
  type FaultMode,
  lastCodeBlock
} from "../support/FakeOpenAiServer.js"

const SECRET = "sk-test-VERY-SECRET-0123456789"

const PROGRAM = [
  "import math",
  "",
  "# EVOLVE-BLOCK-START",
  "def search(x):",
  "    step = 0.25",
  "    for i in range(100):",
  "        x = x - step * math.sin(x)",
  "    return x",
  "# EVOLVE-BLOCK-END",
  "",
  "print(search(3))"
].join("\n")

const USER = `Improve the program.\n\n\`\`\`python\n${PROGRAM}\n\`\`\`\n`

const modelLayer = (server: FakeOpenAiServer, apiKey: Option.Option<Redacted.Redacted> = Option.none()) =>
  OpenAiChat.layer({ baseUrl: server.url, model: "fake-model", apiKey, temperature: 0.3, maxTokens: 512 }).pipe(
    Layer.provide(NodeHttp.layer)
  )

const generate = (server: FakeOpenAiServer, apiKey?: Option.Option<Redacted.Redacted>) =>
  LanguageModel.generateText({
    prompt: [
      { role: "system", content: "You are a careful programmer." },
      { role: "user", content: [{ type: "text", text: USER }] }
    ]
  }).pipe(Effect.provide(modelLayer(server, apiKey)))

const withFault = (fault: FaultMode) =>
  Effect.gen(function*() {
    const server = yield* fakeOpenAiServer({ faults: { sequence: [fault] } })
    const result = yield* Effect.either(generate(server))
    return { server, result }
  })

const leaks = (value: unknown): boolean => {
  const texts = [String(value), JSON.stringify(value)]
  if (value instanceof Error) texts.push(value.message, value.stack ?? "")
  return texts.some((t) => t.includes(SECRET))
}

describe("FakeOpenAiServer default responder", () => {
  it("answers with a SEARCH/REPLACE diff nudging a number inside the EVOLVE-BLOCK", () => {
    let seed = 1
    for (let i = 0; i < 50; i++) {
      const random = () => {
        seed = (seed * 16807) % 2147483647
        return seed / 2147483647
      }
      const answer = defaultAnswer(USER, random)
      const m = /<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE/.exec(answer)
      expect(m).not.toBeNull()
      const [, search, replace] = m!
      expect(PROGRAM.split("\n")).toContain(search)
      expect(replace).not.toBe(search)
      const blockLines = PROGRAM.split("\n").slice(3, 8)
      expect(blockLines).toContain(search)
      expect(answer.split("\n")[0]).toMatch(/\S/)
    }
  })

  it("finds the last fenced block and falls back without numbers", () => {
    expect(lastCodeBlock("a\n```js\nx\n```\nb\n```py\ny\n```")).toEqual({ lang: "py", code: "y" })
    const answer = defaultAnswer("```js\nfoo()\nbar()\n```", () => 0.3)
    expect(answer).toContain("<<<<<<< SEARCH\nbar()\n=======\nbar() // evolved\n>>>>>>> REPLACE")
  })
})

describe("OpenAiChat over real loopback HTTP", () => {
  it.scoped("sends a Chat Completions request with the bearer key and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ requireApiKey: SECRET })
      const response = yield* generate(server, Option.some(Redacted.make(SECRET)))
      expect(response.text).toContain("<<<<<<< SEARCH")
      expect(response.finishReason).toBe("stop")
      expect(response.usage.inputTokens).toBeGreaterThan(0)
      expect(response.usage.outputTokens).toBeGreaterThan(0)
      expect(response.usage.totalTokens).toBe(response.usage.inputTokens! + response.usage.outputTokens!)
      const [recorded] = server.requests
      expect(recorded!.headers.authorization).toBe(`Bearer ${SECRET}`)
      expect(recorded!.body).toMatchObject({
        model: "fake-model",
        temperature: 0.3,
        max_tokens: 512,
        stream: false,
        messages: [
          { role: "system", content: "You are a careful programmer." },
          { role: "user", content: USER }
        ]
      })
    }))

  it.scoped("sends no Authorization header without a key", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer()
      yield* generate(server)
      expect(server.requests[0]!.headers.authorization).toBeUndefined()
    }))

  it.scoped("tolerates a missing usage", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("no-usage")
      const response = Either.getOrThrow(result)
      expect(response.text).toContain("SEARCH")
      expect(response.usage.inputTokens).toBeUndefined()
      expect(response.usage.outputTokens).toBeUndefined()
    }))

  it.scoped("tolerates content: null with reasoning_content", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("reasoning-only")
      const response = Either.getOrThrow(result)
      expect(response.text).toBe("")
      expect(response.reasoningText).toContain("<<<<<<< SEARCH")
    }))

  it.scoped("tolerates unknown extra fields", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("extra-fields")
      const response = Either.getOrThrow(result)
      expect(response.text).toContain("SEARCH")
      expect(response.usage.cachedInputTokens).toBe(0)
    }))

  it.scoped("returns the text of a response cut by finish_reason: length", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("length")
      const response = Either.getOrThrow(result)
      expect(response.finishReason).toBe("length")
      expect(response.text.length).toBeGreaterThan(0)
    }))

  it.scoped("reports empty choices as the empty-response UnknownError", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("empty-choices")
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      expect(error._tag).toBe("UnknownError")
      expect((error as AiError.UnknownError).description).toBe(OpenAiChat.EmptyResponseDescription)
    }))

  it.scoped("reports an undecodable body as MalformedOutput", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("malformed")
      expect(Either.getLeft(result).pipe(Option.getOrThrow)._tag).toBe("MalformedOutput")
    }))

  it.scoped("reports a non-2xx status as HttpResponseError with status and headers", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("429-retry-after:7")
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      expect(error._tag).toBe("HttpResponseError")
      const e = error as AiError.HttpResponseError
      expect(e.response.status).toBe(429)
      expect(e.response.headers["retry-after"]).toBe("7")
      expect(e.body).toContain("Rate limit")
    }))

  it.scoped("reports a 200 with an error object as HttpResponseError", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("error-200")
      const e = Either.getLeft(result).pipe(Option.getOrThrow) as AiError.HttpResponseError
      expect(e._tag).toBe("HttpResponseError")
      expect(e.response.status).toBe(502)
    }))

  it.scoped("reports a connection reset mid-body as a transport HttpRequestError", () =>
    Effect.gen(function*() {
      const { result } = yield* withFault("reset")
      const e = Either.getLeft(result).pipe(Option.getOrThrow) as AiError.HttpRequestError
      expect(e._tag).toBe("HttpRequestError")
      expect(e.reason).toBe("Transport")
    }))

  it.scoped("never puts the API key in errors (status, transport, malformed)", () =>
    Effect.gen(function*() {
      const key = Option.some(Redacted.make(SECRET))
      const wrongKey = yield* fakeOpenAiServer({ requireApiKey: "something-else" })
      const unauthorized = yield* Effect.flip(generate(wrongKey, key))
      expect(unauthorized._tag).toBe("HttpResponseError")
      expect((unauthorized as AiError.HttpResponseError).response.status).toBe(401)
      expect((unauthorized as AiError.HttpResponseError).request.headers["authorization"]).toBe("<redacted>")
      expect(leaks(unauthorized)).toBe(false)

      const malformed = yield* fakeOpenAiServer({ faults: { sequence: ["malformed"] } })
      expect(leaks(yield* Effect.flip(generate(malformed, key)))).toBe(false)

      const closed = yield* fakeOpenAiServer()
      yield* Effect.promise(() => closed.close())
      const transport = yield* Effect.flip(generate(closed, key))
      expect(transport._tag).toBe("HttpRequestError")
      expect(leaks(transport)).toBe(false)
    }))

  it("scrubs secrets and URL credentials", () => {
    const key = Option.some(Redacted.make(SECRET))
    expect(OpenAiChat.scrubSecret(`echo: Bearer ${SECRET}!`, key)).toBe("echo: Bearer <redacted>!")
    expect(OpenAiChat.scrubUrl("https://user:pw@example.com/v1/chat/completions?key=abc")).toBe(
      "https://example.com/v1/chat/completions"
    )
  })

  it("uses max_completion_tokens for api.openai.com", () => {
    const options = {
      baseUrl: "https://api.openai.com/v1",
      model: "m",
      apiKey: Option.none(),
      temperature: 1,
      maxTokens: 10
    }
    const prompt = { content: [] } as any
    expect(OpenAiChat.makeRequestBody(options, prompt)).toMatchObject({ max_completion_tokens: 10 })
    expect(OpenAiChat.makeRequestBody({ ...options, baseUrl: "http://localhost:11434/v1" }, prompt)).toMatchObject({
      max_tokens: 10
    })
  })

  it.scoped("streamText replays the answer as stream parts", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer()
      const parts = yield* LanguageModel.streamText({ prompt: USER }).pipe(
        Stream.provideLayer(modelLayer(server)),
        Stream.runCollect
      )
      const types = Chunk.toReadonlyArray(parts).map((p) => p.type)
      expect(types).toContain("text-delta")
      expect(types.at(-1)).toBe("finish")
    }))
})
