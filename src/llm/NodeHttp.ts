/**
 * The HTTP client of LLM and embedding calls: Node's own http/https with keep-alive, as an
 * `HttpClient`. Part of Node, it costs nothing to load, where undici put 730 KB of JavaScript to
 * compile on the path of every `evolve run` start.
 *
 * Leaner than @effect/platform-node's client, which forks fibers to send the body and await the
 * headers concurrently and runs a fiber and a stream to read a body: here a request is one
 * asynchronous step (send, then headers) and its body another (the chunks joined), with nothing
 * else in between. The callers send small JSON bodies and read the whole answer as text.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import { Effect, Inspectable, Layer, Option, Stream } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Traced from "../domain/Traced.js"

class NodeResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  /** The body's outcome once it has ended or failed; the readers waiting for it until then. */
  private outcome: Effect.Effect<Buffer, HttpClientError.ResponseError> | undefined
  private readonly waiters: Array<(outcome: Effect.Effect<Buffer, HttpClientError.ResponseError>) => void> = []

  constructor(readonly request: HttpClientRequest.HttpClientRequest, private readonly source: Http.IncomingMessage) {
    super()
    // Read at once, so that an unread body never holds its keep-alive socket.
    const chunks: Array<Buffer> = []
    source.on("data", (chunk: Buffer) => chunks.push(chunk))
    source.once("end", () => this.settle(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))))
    source.on("error", (cause) => this.settle(Effect.fail(this.fail(cause))))
    // "close" follows every response, after "end": only a body cut short is a failure (checked first,
    // as building the error captures a stack trace).
    source.once("close", () => {
      if (this.outcome === undefined) this.settle(Effect.fail(this.fail(new Error("the connection closed before the body ended"))))
    })
  }

  private settle(outcome: Effect.Effect<Buffer, HttpClientError.ResponseError>) {
    if (this.outcome !== undefined) return
    this.outcome = outcome
    for (const resume of this.waiters.splice(0)) resume(outcome)
  }

  get status() {
    return this.source.statusCode ?? 0
  }
  get headers() {
    return Headers.fromInput(this.source.headers)
  }
  get cookies() {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(header)
  }
  get remoteAddress() {
    return Option.fromNullable(this.source.socket?.remoteAddress)
  }

  private readonly fail = (cause: unknown): HttpClientError.ResponseError =>
    new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })

  private get bytes(): Effect.Effect<Buffer, HttpClientError.ResponseError> {
    return this.outcome ?? Effect.async<Buffer, HttpClientError.ResponseError>((resume) => {
      if (this.outcome !== undefined) return resume(this.outcome)
      this.waiters.push(resume)
      return Effect.sync(() => {
        const i = this.waiters.indexOf(resume)
        if (i >= 0) this.waiters.splice(i, 1)
        // Interrupted, and nobody else reads it: the rest of the body is not worth its connection.
        if (this.waiters.length === 0 && this.outcome === undefined) this.source.destroy()
      })
    })
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (buffer) => buffer.toString("utf8"))
  }
  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => (text === "" ? null : JSON.parse(text)) as unknown, catch: this.fail }))
  }
  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => UrlParams.fromInput(new URLSearchParams(text)), catch: this.fail }))
  }
  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
  }
  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.fromEffect(Effect.map(this.bytes, (b): Uint8Array => b))
  }
  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.fail(this.fail(new Error("form data bodies are not supported by this client")))
  }
  toJSON() {
    return HttpIncomingMessage.inspect(this, { _id: "@effect/platform/HttpClientResponse", request: this.request.toJSON(), status: this.status })
  }
}

const bodyOf = (request: HttpClientRequest.HttpClientRequest): Uint8Array | string | undefined => {
  switch (request.body._tag) {
    case "Empty":
      return undefined
    case "Uint8Array":
      return request.body.body
    case "Raw":
      return typeof request.body.body === "string" || request.body.body instanceof Uint8Array ? request.body.body : undefined
    default:
      return undefined
  }
}

type Agents = { readonly http: Http.Agent; readonly https: Https.Agent }

/** Sends a request and waits for its headers; interrupted meanwhile, it destroys the request and its connection. */
const send = (agents: Agents, request: HttpClientRequest.HttpClientRequest, url: URL, signal: AbortSignal | undefined) => {
  const body = bodyOf(request)
  if (body === undefined && request.body._tag !== "Empty") {
    return Effect.fail(
      new HttpClientError.RequestError({ request, reason: "Encode", cause: new Error(`${request.body._tag} bodies are not supported by this client`) })
    )
  }
  return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>((resume) => {
    const options = { method: request.method, headers: request.headers, ...(signal === undefined ? {} : { signal }) }
    const nodeRequest = url.protocol === "https:"
      ? Https.request(url, { ...options, agent: agents.https })
      : Http.request(url, { ...options, agent: agents.http })
    // `on`, not `once`: an error after the first (a socket failing mid-body after an abort) must
    // find a listener too, or Node ends the process.
    nodeRequest.on("error", (cause) => resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause }))))
    nodeRequest.once("response", (response) => resume(Effect.succeed(new NodeResponse(request, response))))
    nodeRequest.end(body)
    return Effect.sync(() => void nodeRequest.destroy())
  })
}

/**
 * With tracing on, the platform's `HttpClient.make` (a span per request, trace headers). Off (the
 * CLI's default), a request goes straight to Node: `make` adds an AbortController, Node's listener
 * on its signal (a third of the CPU of creating a request; perf, warm workload), a
 * FinalizationRegistry entry and a response wrapper per request, for what interruption does here.
 */
const make = (agents: Agents) => {
  const traced = HttpClient.make((request, url, signal) => send(agents, request, url, signal))
  const direct = (request: HttpClientRequest.HttpClientRequest) => {
    const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
    return url._tag === "Left"
      ? Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
      : send(agents, request, url.right, undefined)
  }
  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(effect, (request) =>
        Traced.whenTracing<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError, never>(
          () => traced.execute(request),
          () => direct(request)
        )),
    (request) => Effect.succeed(request)
  )
}

/** The client, with one keep-alive agent per protocol for the life of the layer. */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => ({ http: new Http.Agent({ keepAlive: true }), https: new Https.Agent({ keepAlive: true }) })),
      (agents) =>
        Effect.sync(() => {
          agents.http.destroy()
          agents.https.destroy()
        })
    ),
    make
  )
)
