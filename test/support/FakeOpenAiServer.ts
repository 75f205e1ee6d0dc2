/**
 * A fake OpenAI-compatible Chat Completions server for tests and benchmarks.
 *
 * Dependency-free (node:http), bound to 127.0.0.1 on a free port. It answers
 * `POST …/chat/completions` (and `GET …/models`) with a useful default answer: a SEARCH/REPLACE
 * diff that nudges one numeric literal of the program found in the last fenced code block of the
 * last user message (preferring lines inside an EVOLVE-BLOCK). It can inject faults from a fixed
 * per-request sequence or a seeded probability mix, adds latency, records every request with its
 * `performance.now()` arrival and end times (the request log the benchmark integrates slot use
 * over) and tracks the maximum number of requests in flight.
 *
 * Also `POST …/responses` (the Responses API, as @effect/ai-openai's OpenAiLanguageModel speaks
 * it; same faults and responder) and `POST …/embeddings` (deterministic hashed-trigram vectors).
 * Faults and latency can differ per model (`modelFaults`, `modelLatency`, keyed by the request's
 * `model`).
 *
 * Fault modes:
 * - "ok"                       normal answer
 * - "429-retry-after:S"        429 with `Retry-After: S` (seconds)
 * - "429-retry-after-ms:MS"    429 with `retry-after-ms: MS`
 * - "429-retry-after-date:S"   429 with `Retry-After` as an HTTP date S seconds from now (wall clock)
 * - "429"                      429 without any hint
 * - "400" | "401" | "404" | "408" | "409" | "500" | "502" | "503" | "504"  that status, JSON error body
 * - "hang"                     never answers (until the client gives up or the server closes)
 * - "reset"                    sends headers and part of the body, then destroys the socket
 * - "malformed"                200 with a body that is not JSON
 * - "empty-choices"            200 with `choices: []`
 * - "no-usage"                 normal answer without `usage`
 * - "reasoning-only"           `content: null`, the answer in `reasoning_content`
 * - "length"                   answer cut in half with `finish_reason: "length"`
 * - "extra-fields"             normal answer with unknown extra fields everywhere
 * - "error-200"                200 with `{ "error": { "message", "code": 502 } }` (OpenRouter style)
 */
import * as http from "node:http"
import type { Socket } from "node:net"
import { performance } from "node:perf_hooks"
import { Effect, type Scope } from "effect"

export type FaultMode =
  | "ok"
  | `429-retry-after:${number}`
  | `429-retry-after-ms:${number}`
  | `429-retry-after-date:${number}`
  | "429"
  | "400"
  | "401"
  | "404"
  | "408"
  | "409"
  | "500"
  | "502"
  | "503"
  | "504"
  | "hang"
  | "reset"
  | "malformed"
  | "empty-choices"
  | "no-usage"
  | "reasoning-only"
  | "length"
  | "extra-fields"
  | "error-200"

export type FaultPlan =
  /** Request i gets `sequence[i]`; after the end, `then` (default "ok"). */
  | { readonly sequence: ReadonlyArray<FaultMode>; readonly then?: FaultMode }
  /** Each request draws a mode with these probabilities (seeded); the remainder is "ok". */
  | { readonly mix: Readonly<Partial<Record<FaultMode, number>>> }

export type Latency = number | { readonly meanMs: number; readonly jitterMs: number }

export interface ChatRequestInfo {
  /** The parsed JSON request body. */
  readonly body: any
  readonly system: string
  /** Text of the last user message. */
  readonly user: string
  /** 0-based index of this request since the server started. */
  readonly index: number
  /** The server's seeded PRNG, in [0, 1). */
  readonly random: () => number
}

export interface FakeOpenAiServerOptions {
  /** Delay before every answer (fixed ms, or uniform in mean ± jitter). Default 0. */
  readonly latency?: Latency | undefined
  /** Seed of the PRNG used for latency jitter, fault mixes and the default responder. Default 1. */
  readonly seed?: number | undefined
  /** Fault injection. Default: every request "ok". */
  readonly faults?: FaultPlan | undefined
  /** Replaces the default SEARCH/REPLACE responder; returns the assistant message text. */
  readonly responder?: ((request: ChatRequestInfo) => string | Promise<string>) | undefined
  /** When set, requests without `Authorization: Bearer <requireApiKey>` get a 401. */
  readonly requireApiKey?: string | undefined
  /** Model name echoed in responses. Default "fake-model". */
  readonly model?: string | undefined
  /** Fault plans for requests naming these models (each with its own sequence position). */
  readonly modelFaults?: Readonly<Record<string, FaultPlan>> | undefined
  /** Latency for requests naming these models. */
  readonly modelLatency?: Readonly<Record<string, Latency>> | undefined
  /** Dimensions of /embeddings vectors. Default 16. */
  readonly embeddingDimensions?: number | undefined
}

export interface RecordedRequest {
  /** Arrival time (request body read), `performance.now()` ms. */
  readonly at: number
  /**
   * When the answer was fully handed to the socket, or the connection closed without one (a hang
   * ended by the client, a reset), `performance.now()` ms; absent while the request is in flight.
   */
  readonly endedAt?: number
  /** 0-based index of this request since the server started: `ChatRequestInfo.index`. */
  readonly index: number
  /** Which endpoint: Chat Completions or Responses. */
  readonly api: "chat" | "responses"
  readonly body: any
  readonly headers: http.IncomingHttpHeaders
  readonly fault: FaultMode
}

export interface FakeOpenAiServer {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1`. */
  readonly url: string
  readonly port: number
  readonly requests: Array<RecordedRequest>
  /** Maximum number of chat requests in flight at once so far. */
  readonly inFlightMax: number
  /** Chat requests in flight now. */
  readonly inFlight: number
  /** `/embeddings` requests (parsed bodies), in arrival order. */
  readonly embeddingRequests: Array<any>
  /** Replaces the fault plan (of `model` only, when given); a sequence restarts at its first element. */
  readonly setFaults: (plan: FaultPlan | undefined, model?: string) => void
  /** Forgets recorded requests and resets `inFlightMax` to the current in-flight count. */
  readonly reset: () => void
  /** Stops listening and destroys every open socket (hung requests included). */
  readonly close: () => Promise<void>
}

// -----------------------------------------------------------------------------
// Seeded PRNG
// -----------------------------------------------------------------------------

/** mulberry32: a tiny, fast, seeded PRNG returning floats in [0, 1). */
export const mulberry32 = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// -----------------------------------------------------------------------------
// Default responder: a SEARCH/REPLACE diff nudging a numeric literal
// -----------------------------------------------------------------------------

const NUMBER_SOURCE = String.raw`(?<![\w.$])(\d+\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])`
const HAS_NUMBER = new RegExp(NUMBER_SOURCE)

/** The last fenced code block of `text`: its language tag and body, or undefined. */
export const lastCodeBlock = (text: string): { readonly lang: string; readonly code: string } | undefined => {
  const fence = /```([^\n`]*)\n([\s\S]*?)```/g
  let last: { lang: string; code: string } | undefined
  for (let m = fence.exec(text); m !== null; m = fence.exec(text)) {
    last = { lang: (m[1] ?? "").trim(), code: (m[2] ?? "").replace(/\n$/, "") }
  }
  return last
}

const formatLike = (original: string, value: number): string => {
  const dot = original.indexOf(".")
  if (dot < 0) return String(Math.round(value))
  const decimals = Math.max(1, original.length - dot - 1)
  return value.toFixed(decimals)
}

const nudge = (literal: string, random: () => number): string => {
  const value = Number(literal)
  if (!literal.includes(".")) {
    const up = value === 0 || random() < 0.5
    return String(up ? value + 1 : value - 1)
  }
  for (let i = 0; i < 8; i++) {
    const factor = 1 + (random() < 0.5 ? -1 : 1) * (0.02 + random() * 0.18)
    const next = formatLike(literal, value === 0 ? 0.1 * (factor - 1) * 10 : value * factor)
    if (next !== literal) return next
  }
  const dot = literal.indexOf(".")
  const step = Math.pow(10, -(literal.length - dot - 1))
  return formatLike(literal, value + step)
}

/**
 * Builds a SEARCH/REPLACE answer for the program in `user` (the last fenced block), changing one
 * numeric literal on a line that occurs once in the program, preferring EVOLVE-BLOCK regions.
 * Falls back to appending a comment to the last non-empty line when no number is found.
 */
export const defaultAnswer = (user: string, random: () => number): string => {
  const block = lastCodeBlock(user)
  if (block === undefined) return "I could not find the program: no fenced code block in the prompt."
  const lines = block.code.split("\n")
  const counts = new Map<string, number>()
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1)
  const inBlock: Array<number> = []
  const anywhere: Array<number> = []
  let inside = false
  lines.forEach((line, i) => {
    if (line.includes("EVOLVE-BLOCK-START")) {
      inside = true
      return
    }
    if (line.includes("EVOLVE-BLOCK-END")) {
      inside = false
      return
    }
    if (counts.get(line) !== 1 || line.trim().length === 0) return
    if (!HAS_NUMBER.test(line)) return
    ;(inside ? inBlock : anywhere).push(i)
  })
  const candidates = inBlock.length > 0 ? inBlock : anywhere
  if (candidates.length === 0) {
    const lastIndex = lines.map((l, i) => [l, i] as const).filter(([l]) => l.trim().length > 0 && counts.get(l) === 1)
      .at(-1)?.[1]
    if (lastIndex === undefined) return "The program is empty; nothing to change."
    const comment = /^(py|python|sh|bash|ruby|rb|r|julia|yaml)$/i.test(block.lang) ? "#" : "//"
    const original = lines[lastIndex]!
    return [
      "Mark the end of the program (no numeric literal to tune).",
      "",
      "<<<<<<< SEARCH",
      original,
      "=======",
      `${original} ${comment} evolved`,
      ">>>>>>> REPLACE",
      ""
    ].join("\n")
  }
  const lineIndex = candidates[Math.floor(random() * candidates.length)]!
  const original = lines[lineIndex]!
  const matches = [...original.matchAll(new RegExp(NUMBER_SOURCE, "g"))]
  const match = matches[Math.floor(random() * matches.length)]!
  const literal = match[1]!
  const start = match.index!
  const replaced = original.slice(0, start) + nudge(literal, random) + original.slice(start + literal.length)
  return [
    `Adjust the constant ${literal} on line ${lineIndex + 1} slightly to explore a nearby value.`,
    "",
    "<<<<<<< SEARCH",
    original,
    "=======",
    replaced,
    ">>>>>>> REPLACE",
    ""
  ].join("\n")
}

/** A deterministic embedding: hashed character trigrams (FNV-1a), L2-normalised. */
export const fakeEmbedding = (text: string, dimensions: number): Array<number> => {
  const v = new Array<number>(dimensions).fill(0)
  const t = ` ${text} `
  for (let i = 0; i + 3 <= t.length; i++) {
    let h = 0x811c9dc5
    for (let j = i; j < i + 3; j++) h = Math.imul(h ^ t.charCodeAt(j), 0x01000193)
    h >>>= 0
    v[h % dimensions]! += (h & 1) === 0 ? 1 : -1
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1
  return v.map((x) => x / norm)
}

// -----------------------------------------------------------------------------
// Server
// -----------------------------------------------------------------------------

/** Links a request's end (seen on the response) to its record (made once the body was read). */
interface RequestTiming {
  record?: { endedAt?: number }
  endedAt?: number
}

const messageText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (Array.isArray(content)) {
    return content.map((p) => (p && typeof p === "object" && typeof p.text === "string" ? p.text : "")).join("")
  }
  return ""
}

const estimate = (chars: number) => Math.ceil(chars / 4)

const pickFromMix = (mix: Readonly<Partial<Record<FaultMode, number>>>, r: number): FaultMode => {
  let acc = 0
  for (const [mode, p] of Object.entries(mix) as Array<[FaultMode, number]>) {
    acc += p
    if (r < acc) return mode
  }
  return "ok"
}

export const startFakeOpenAiServer = (options: FakeOpenAiServerOptions = {}): Promise<FakeOpenAiServer> => {
  const random = mulberry32(options.seed ?? 1)
  const model = options.model ?? "fake-model"
  const requests: Array<RecordedRequest> = []
  const sockets = new Set<Socket>()
  let plan: FaultPlan | undefined = options.faults
  let sequenceIndex = 0
  let chatIndex = 0
  let inFlight = 0
  let inFlightMax = 0
  let closed = false

  const modelPlans = new Map<string, { plan: FaultPlan | undefined; index: number }>(
    Object.entries(options.modelFaults ?? {}).map(([m, p]) => [m, { plan: p, index: 0 }])
  )
  const embeddingRequests: Array<any> = []

  const draw = (p: FaultPlan | undefined, index: number): FaultMode => {
    if (p === undefined) return "ok"
    if ("sequence" in p) return p.sequence[index] ?? p.then ?? "ok"
    return pickFromMix(p.mix, random())
  }

  const nextFault = (model?: unknown): FaultMode => {
    const perModel = typeof model === "string" ? modelPlans.get(model) : undefined
    if (perModel !== undefined) return draw(perModel.plan, perModel.index++)
    return draw(plan, sequenceIndex++)
  }

  const latencyMs = (model?: unknown): number => {
    const l = (typeof model === "string" ? options.modelLatency?.[model] : undefined) ?? options.latency
    if (l === undefined) return 0
    if (typeof l === "number") return l
    return Math.max(0, l.meanMs + (random() * 2 - 1) * l.jitterMs)
  }

  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) => {
    const text = typeof body === "string" ? body : JSON.stringify(body)
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers
    })
    res.end(text)
  }

  const errorBody = (status: number, message: string) => ({
    error: { message, type: status === 429 ? "rate_limit_error" : "server_error", code: status }
  })

  const completion = (content: string | null, promptChars: number, extra: {
    readonly finishReason?: string
    readonly usage?: boolean
    readonly reasoning?: string
    readonly extraFields?: boolean
  } = {}) => {
    const answerChars = (content ?? "").length + (extra.reasoning ?? "").length
    const prompt_tokens = estimate(promptChars)
    const completion_tokens = estimate(answerChars)
    const message: Record<string, unknown> = { role: "assistant", content }
    if (extra.reasoning !== undefined) message["reasoning_content"] = extra.reasoning
    if (extra.extraFields) {
      message["refusal"] = null
      message["tool_calls"] = []
      message["annotations"] = [{ kind: "unknown" }]
    }
    const body: Record<string, unknown> = {
      id: `chatcmpl-${chatIndex}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model,
      choices: [{
        index: 0,
        message,
        finish_reason: extra.finishReason ?? "stop",
        ...(extra.extraFields ? { logprobs: null, stop_reason: null } : {})
      }]
    }
    if (extra.usage !== false) {
      body["usage"] = {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ...(extra.extraFields ? { prompt_tokens_details: { cached_tokens: 0 }, queue_time: 0.01 } : {})
      }
    }
    if (extra.extraFields) {
      body["system_fingerprint"] = "fp_fake"
      body["service_tier"] = "default"
      body["x_groq"] = { id: "req_fake" }
    }
    return body
  }

  const responsesBody = (content: string, promptChars: number, extra: { readonly usage?: boolean; readonly incomplete?: boolean } = {}) => {
    const input_tokens = estimate(promptChars)
    const output_tokens = estimate(content.length)
    return {
      id: `resp_${chatIndex}`,
      object: "response",
      created_at: 1_700_000_000,
      status: extra.incomplete ? "incomplete" : "completed",
      error: null,
      incomplete_details: extra.incomplete ? { reason: "max_output_tokens" } : null,
      instructions: null,
      model,
      output: [{
        type: "message",
        id: `msg_${chatIndex}`,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: content, annotations: [] }]
      }],
      parallel_tool_calls: true,
      tool_choice: "auto",
      tools: [],
      metadata: null,
      temperature: null,
      top_p: null,
      ...(extra.usage === false ? {} : {
        usage: {
          input_tokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: input_tokens + output_tokens
        }
      })
    }
  }

  const handleChat = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: string,
    api: "chat" | "responses",
    timing: RequestTiming
  ) => {
    const at = performance.now()
    const index = chatIndex++
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    const fault = nextFault(body?.model)
    const record: { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] } = {
      at,
      index,
      api,
      body,
      headers: req.headers,
      fault
    }
    if (timing.endedAt !== undefined) record.endedAt = timing.endedAt
    timing.record = record
    requests.push(record)
    if (options.requireApiKey !== undefined && req.headers.authorization !== `Bearer ${options.requireApiKey}`) {
      return sendJson(res, 401, errorBody(401, "Incorrect API key provided."))
    }
    const rawMessages = api === "chat"
      ? body?.messages
      : typeof body?.input === "string"
      ? [{ role: "user", content: body.input }]
      : body?.input
    if (body === undefined || !Array.isArray(rawMessages)) {
      return sendJson(res, 400, errorBody(400, `request body must be JSON with a \`${api === "chat" ? "messages" : "input"}\` array`))
    }
    if (fault === "hang") return // never answer; the socket is destroyed by the client or by close()

    const delay = latencyMs(body.model)
    if (delay > 0) await new Promise<void>((resolve) => setTimeout(resolve, delay))
    if (closed || res.destroyed) return

    const messages: Array<{ role: string; content: unknown }> = rawMessages
    const system = messages.filter((m) => m.role === "system").map((m) => messageText(m.content)).join("\n")
    const user = messageText([...messages].reverse().find((m) => m.role === "user")?.content)
    const promptChars = messages.reduce((n, m) => n + messageText(m.content).length, 0)

    const retryAfter = /^429-retry-after(-ms|-date)?:(\d+(?:\.\d+)?)$/.exec(fault)
    if (retryAfter) {
      const value = Number(retryAfter[2])
      const headers: http.OutgoingHttpHeaders = retryAfter[1] === "-ms"
        ? { "retry-after-ms": String(value) }
        : retryAfter[1] === "-date"
        ? { "retry-after": new Date(Date.now() + value * 1000).toUTCString() }
        : { "retry-after": String(value) }
      return sendJson(res, 429, errorBody(429, "Rate limit reached."), headers)
    }
    if (/^\d{3}$/.test(fault)) {
      const status = Number(fault)
      return sendJson(res, status, errorBody(status, `fake fault ${status}`))
    }
    switch (fault) {
      case "reset": {
        res.writeHead(200, { "content-type": "application/json", "content-length": 4096 })
        res.write("{\"id\":\"chatcmpl-reset\",\"object\":\"chat.completion\",\"choi")
        setImmediate(() => res.socket?.destroy())
        return
      }
      case "malformed":
        return sendJson(res, 200, "{\"id\": \"chatcmpl-bad\", \"choices\": [ this is not json")
      case "empty-choices":
        return sendJson(res, 200, { ...completion("", promptChars), choices: [] })
      case "error-200":
        return sendJson(res, 200, errorBody(502, "upstream provider error"))
      default:
        break
    }

    const info: ChatRequestInfo = { body, system, user, index, random }
    const content = options.responder ? await options.responder(info) : defaultAnswer(user, random)
    if (closed || res.destroyed) return
    if (api === "responses") {
      switch (fault) {
        case "no-usage":
          return sendJson(res, 200, responsesBody(content, promptChars, { usage: false }))
        case "length":
          return sendJson(res, 200, responsesBody(content.slice(0, Math.ceil(content.length / 2)), promptChars, { incomplete: true }))
        default:
          return sendJson(res, 200, responsesBody(content, promptChars))
      }
    }
    switch (fault) {
      case "no-usage":
        return sendJson(res, 200, completion(content, promptChars, { usage: false }))
      case "reasoning-only":
        return sendJson(res, 200, completion(null, promptChars, { reasoning: content }))
      case "length":
        return sendJson(
          res,
          200,
          completion(content.slice(0, Math.ceil(content.length / 2)), promptChars, { finishReason: "length" })
        )
      case "extra-fields":
        return sendJson(res, 200, completion(content, promptChars, { extraFields: true }))
      default:
        return sendJson(res, 200, completion(content, promptChars))
    }
  }

  const dimensions = options.embeddingDimensions ?? 16
  const handleEmbeddings = (req: http.IncomingMessage, res: http.ServerResponse, raw: string) => {
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    embeddingRequests.push(body)
    if (options.requireApiKey !== undefined && req.headers.authorization !== `Bearer ${options.requireApiKey}`) {
      return sendJson(res, 401, errorBody(401, "Incorrect API key provided."))
    }
    const input: Array<string> | undefined = typeof body?.input === "string"
      ? [body.input]
      : Array.isArray(body?.input) && body.input.every((t: unknown) => typeof t === "string")
      ? body.input
      : undefined
    if (input === undefined) return sendJson(res, 400, errorBody(400, "`input` must be a string or an array of strings"))
    const dims = typeof body.dimensions === "number" ? body.dimensions : dimensions
    const tokens = input.reduce((n, t) => n + estimate(t.length), 0)
    return sendJson(res, 200, {
      object: "list",
      model: body.model ?? model,
      data: input.map((text, index) => ({ object: "embedding", index, embedding: fakeEmbedding(text, dims) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens }
    })
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? "/"
    if (req.method === "GET" && /\/models\/?$/.test(url)) {
      return sendJson(res, 200, { object: "list", data: [{ id: model, object: "model", owned_by: "fake" }] })
    }
    if (req.method === "POST" && /\/embeddings\/?(\?.*)?$/.test(url)) {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => handleEmbeddings(req, res, Buffer.concat(chunks).toString("utf8")))
      return
    }
    const api = req.method !== "POST"
      ? undefined
      : /\/chat\/completions\/?(\?.*)?$/.test(url)
      ? "chat" as const
      : /\/responses\/?(\?.*)?$/.test(url)
      ? "responses" as const
      : undefined
    if (api === undefined) {
      return sendJson(res, 404, errorBody(404, `no route for ${req.method} ${url}`))
    }
    inFlight++
    if (inFlight > inFlightMax) inFlightMax = inFlight
    let done = false
    const finish = () => {
      if (!done) {
        done = true
        inFlight--
      }
    }
    res.on("close", finish)
    const timing: RequestTiming = {}
    const markEnded = () => {
      if (timing.record?.endedAt !== undefined || timing.endedAt !== undefined) return
      const endedAt = performance.now()
      if (timing.record !== undefined) timing.record.endedAt = endedAt
      else timing.endedAt = endedAt
    }
    res.on("finish", markEnded)
    res.on("close", markEnded)
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      handleChat(req, res, Buffer.concat(chunks).toString("utf8"), api, timing).catch((e) => {
        if (!res.headersSent) sendJson(res, 500, errorBody(500, `fake server error: ${String(e)}`))
        else res.destroy()
      })
    })
  })
  server.keepAliveTimeout = 60_000
  server.on("connection", (socket) => {
    socket.setNoDelay(true)
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("no address"))
      const port = address.port
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        port,
        requests,
        embeddingRequests,
        get inFlightMax() {
          return inFlightMax
        },
        get inFlight() {
          return inFlight
        },
        setFaults: (next, forModel) => {
          if (forModel !== undefined) {
            modelPlans.set(forModel, { plan: next, index: 0 })
            return
          }
          plan = next
          sequenceIndex = 0
        },
        reset: () => {
          requests.length = 0
          embeddingRequests.length = 0
          inFlightMax = inFlight
        },
        close: () =>
          new Promise<void>((resolveClose) => {
            closed = true
            for (const socket of sockets) socket.destroy()
            server.close(() => resolveClose())
          })
      })
    })
  })
}

/** The server as a scoped resource: closed when the scope closes. */
export const fakeOpenAiServer = (
  options: FakeOpenAiServerOptions = {}
): Effect.Effect<FakeOpenAiServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startFakeOpenAiServer(options)),
    (server) => Effect.promise(() => server.close())
  )
