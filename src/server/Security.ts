import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type Cause, Effect, Either, Option, Random, Redacted } from "effect"
import { isIP } from "node:net"
import { Auth } from "./Auth.js"
import * as Csp from "./Csp.js"

/** 127.0.0.0/8, ::1 (and ::ffff:127.x), and the name localhost. */
export const isLoopback = (host: string): boolean => {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (h === "localhost" || h.endsWith(".localhost")) return true
  if (isIP(h) === 4) return h.startsWith("127.")
  if (isIP(h) === 6) return h === "::1" || /^::ffff:127\./.test(h) || h === "0:0:0:0:0:0:0:1"
  return false
}

/**
 * Binding any non-loopback address exposes the API (which starts evaluator commands) to the
 * network, so it needs a bearer token. Left: why the server refuses to start.
 */
export const bindPolicy = (host: string, token: Option.Option<Redacted.Redacted>): Either.Either<void, string> => {
  if (isLoopback(host)) return Either.void
  if (Option.isNone(token) || Redacted.value(token.value).length === 0) {
    return Either.left(
      `binding ${host} (not a loopback address) requires a bearer token you choose: set EVOLVE_TOKEN or pass --token-file`
    )
  }
  if (Redacted.value(token.value).length < 16) {
    return Either.left("the bearer token must be at least 16 characters long")
  }
  return Either.void
}

export interface SecurityOptions {
  /** The address the server binds: on loopback, requests must name a loopback Host (DNS rebinding). */
  readonly host: string
  readonly maxBodyBytes: number
}

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

const jsonError = (status: number, tag: string, message: string, extra: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message, ...extra }, { status })

const hostName = (hostHeader: string) => {
  try {
    return new URL(`http://${hostHeader}`).hostname
  } catch {
    return ""
  }
}

const bodyMethods = new Set(["POST", "PUT", "PATCH", "DELETE"])

const maxJsonDepth = 64

/**
 * Why a parsed JSON body is refused: nested deeper than `limit` (recursive decoders and error
 * formatters overflow the stack: a 500), or a `__proto__` key, which decoding would drop
 * silently (assigning it sets a prototype). Walked iteratively.
 */
const jsonProblem = (value: unknown, limit: number): { readonly message: string; readonly path?: string } | undefined => {
  const stack: Array<readonly [unknown, number, string]> = [[value, 1, ""]]
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!
    if (typeof v !== "object" || v === null) continue
    if (depth > limit) return { message: `JSON body nested deeper than ${limit} levels` }
    if (Array.isArray(v)) {
      v.forEach((child, i) => stack.push([child, depth + 1, `${path}${path === "" ? "" : "."}${i}`]))
      continue
    }
    for (const key of Object.keys(v)) {
      const at = `${path}${path === "" ? "" : "."}${key}`
      if (key === "__proto__") return { message: `${at}: unknown key`, path: at }
      stack.push([(v as Record<string, unknown>)[key], depth + 1, at])
    }
  }
  return undefined
}

const requestIdOf = Effect.map(
  Effect.all([Random.nextIntBetween(0, 0x10000000), Random.nextIntBetween(0, 0x10000000)]),
  ([a, b]) => `${a.toString(16).padStart(7, "0")}${b.toString(16).padStart(7, "0")}`
)

/** A 5xx answer says only that it failed, with the request id under which the server logged why. */
const internalError = (response: HttpServerResponse.HttpServerResponse, requestId: string) => {
  let body: { _tag?: unknown; message?: unknown } = {}
  if (response.body._tag === "Uint8Array") {
    try {
      body = JSON.parse(new TextDecoder().decode(response.body.body)) as typeof body
    } catch {
      // not JSON: replaced below
    }
  }
  return HttpServerResponse.unsafeJson({
    _tag: typeof body._tag === "string" ? body._tag : "InternalError",
    message: typeof body.message === "string" ? body.message : "internal server error",
    requestId
  }, { status: response.status, headers: response.headers })
}

/** Headers every answer carries (unless it set its own): the request id, the usual hardening, and a CSP (computed for HTML pages). */
const finish = (response: HttpServerResponse.HttpServerResponse, requestId: string) =>
  HttpServerResponse.setHeaders(response, {
    ...securityHeaders,
    "content-security-policy": Csp.forResponse(response),
    ...response.headers,
    "x-request-id": requestId
  })

/**
 * The server's outer middleware: Host/Origin checks, authentication (the `Auth` service), body
 * size cap and JSON well-formedness, plain JSON errors for unknown routes, and every 5xx logged
 * with a request id that the answer names. CORS is off: no Access-Control-* header is ever
 * sent, so browsers keep other origins out.
 */
export const middleware = (options: SecurityOptions) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | Auth> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const requestId = yield* requestIdOf
    const hostHeader = request.headers["host"] ?? ""
    const url = new URL(request.url, `http://${hostHeader || "localhost"}`)
    const refuse = (status: number, tag: string, message: string, extra?: Record<string, string>) =>
      finish(jsonError(status, tag, message, extra), requestId)

    if (isLoopback(options.host) && !isLoopback(hostName(hostHeader))) {
      return refuse(403, "Forbidden", "this server only answers requests addressed to a loopback host name")
    }
    const origin = request.headers["origin"]
    if (origin !== undefined) {
      let originHost: string | undefined
      try {
        originHost = origin === "null" ? undefined : new URL(origin).host
      } catch {
        // unparsable origin: refused below
      }
      if (originHost !== hostHeader) return refuse(403, "Forbidden", "cross-origin requests are not allowed")
    }

    const auth = yield* (yield* Auth).authenticate(request, url)
    if (auth._tag === "Respond") return finish(auth.response, requestId)

    if (bodyMethods.has(request.method)) {
      const length = Number(request.headers["content-length"] ?? "0")
      const tooLarge = `request body larger than ${options.maxBodyBytes} bytes`
      if (Number.isFinite(length) && length > options.maxBodyBytes) return refuse(413, "PayloadTooLarge", tooLarge)
      const text = yield* Effect.either(HttpIncomingMessage.withMaxBodySize(request.text, Option.some(options.maxBodyBytes)))
      if (Either.isLeft(text)) {
        return /maxBytes/.test(String((text.left as { cause?: unknown }).cause))
          ? refuse(413, "PayloadTooLarge", tooLarge)
          : refuse(400, "BadRequest", "the request body could not be read")
      }
      const contentType = request.headers["content-type"] ?? ""
      if (text.right.length > 0 && contentType.includes("json")) {
        let parsed: unknown
        try {
          parsed = JSON.parse(text.right)
        } catch (e) {
          return refuse(400, "MalformedJson", `malformed JSON body: ${(e as Error).message}`)
        }
        const problem = jsonProblem(parsed, maxJsonDepth)
        if (problem?.path !== undefined) return refuse(400, "InvalidRequest", problem.message, { path: problem.path })
        if (problem !== undefined) return refuse(400, "MalformedJson", problem.message)
      }
      if ((text.right.length > 0 || contentType !== "") && !contentType.includes("application/json")) {
        return refuse(415, "UnsupportedMediaType", "request bodies must be application/json")
      }
    }

    // The inner app writes its response itself: decorate it in a pre-response handler.
    let failure: Cause.Cause<unknown> | undefined
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.gen(function*() {
        let out = response
        if (out.body._tag === "Empty" && out.status === 404) {
          out = jsonError(404, "NotFound", `no route for ${request.method} ${url.pathname}`)
        } else if (out.status >= 500) {
          const what = `${request.method} ${url.pathname} answered ${out.status}`
          yield* (failure === undefined ? Effect.logError(what) : Effect.logError(what, failure)).pipe(
            Effect.annotateLogs({ requestId })
          )
          out = internalError(out, requestId)
        }
        return finish(out, requestId)
      })
    )
    return yield* app.pipe(Effect.tapErrorCause((cause) => Effect.sync(() => (failure = cause))))
  })
