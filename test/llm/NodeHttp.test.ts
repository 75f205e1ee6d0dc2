import { HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeHttp from "../../src/llm/NodeHttp.js"

/** A loopback server whose handler decides how each request is answered. */
const server = (handler: (request: Http.IncomingMessage, response: Http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const s = Http.createServer(handler)
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) => Effect.async<void>((resume) => {
      s.closeAllConnections()
      s.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`))

const post = (url: string, body: unknown) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(HttpClientRequest.bodyUnsafeJson(HttpClientRequest.post(url), body)))

// With tracing on, requests go through the platform's HttpClient.make (spans); off (the CLI's
// default), straight to Node: both must behave the same.
describe.each([{ tracing: true }, { tracing: false }])("NodeHttp, tracing $tracing", ({ tracing }) => {
  it.live("sends the JSON body with its length and reads a body that arrives in several chunks", () =>
    Effect.gen(function*() {
      const url = yield* server((request, response) => {
        let received = ""
        request.on("data", (c) => (received += c))
        request.on("end", () => {
          response.writeHead(201, { "content-type": "application/json", "x-seen-length": request.headers["content-length"] ?? "" })
          response.write(`{"echo":${received},`)
          setTimeout(() => response.write(`"more":`), 20)
          setTimeout(() => response.end(`true}`), 40)
        })
      })
      const response = yield* post(url, { a: [1, 2] })
      expect(response.status).toBe(201)
      expect(response.headers["x-seen-length"]).toBe(String(JSON.stringify({ a: [1, 2] }).length))
      expect(yield* response.json).toEqual({ echo: { a: [1, 2] }, more: true })
      expect(yield* response.text).toBe(`{"echo":{"a":[1,2]},"more":true}`) // read once, asked twice
    }).pipe(Effect.scoped, Effect.withTracerEnabled(tracing), Effect.provide(NodeHttp.layer)))

  it.live("a connection lost in the middle of the body fails the read instead of hanging", () =>
    Effect.gen(function*() {
      const url = yield* server((_request, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        response.write(`{"partial":`)
        setTimeout(() => response.socket?.destroy(), 20)
      })
      const response = yield* post(url, {})
      const text = yield* Effect.either(response.text)
      expect(Either.isLeft(text) && text.left._tag).toBe("ResponseError")
    }).pipe(Effect.scoped, Effect.withTracerEnabled(tracing), Effect.provide(NodeHttp.layer)))

  it.live("a refused connection is a transport error", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(server(() => {})) // closed again: nothing listens there now
      const result = yield* Effect.either(post(url, {}))
      expect(Either.isLeft(result) && [result.left._tag, result.left.reason]).toEqual(["RequestError", "Transport"])
    }).pipe(Effect.withTracerEnabled(tracing), Effect.provide(NodeHttp.layer)))

  it.live("interrupting a request in flight closes its connection", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const arrived = yield* Deferred.make<void>()
      const url = yield* server((request) => {
        Effect.runSync(Deferred.succeed(arrived, undefined))
        request.socket.on("close", () => Effect.runSync(Deferred.succeed(closed, undefined)))
      })
      const fiber = yield* Effect.fork(post(url, {}))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"))
    }).pipe(Effect.scoped, Effect.withTracerEnabled(tracing), Effect.provide(NodeHttp.layer)))

  it.live("interrupting the read of a body closes its connection", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const url = yield* server((request, response) => {
        request.socket.on("close", () => Effect.runSync(Deferred.succeed(closed, undefined)))
        response.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        response.write(`{"partial":`) // the rest never comes
      })
      const response = yield* post(url, {})
      const reading = yield* Effect.fork(response.text)
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(reading)
      yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"))
    }).pipe(Effect.scoped, Effect.withTracerEnabled(tracing), Effect.provide(NodeHttp.layer)))
})
