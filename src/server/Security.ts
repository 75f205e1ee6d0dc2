import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Either, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { isIP } from "node:net"

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
      `binding ${host} (not a loopback address) requires a bearer token: set EVOLVE_TOKEN or pass --token`
    )
  }
  if (Redacted.value(token.value).length < 16) {
    return Either.left("the bearer token must be at least 16 characters long")
  }
  return Either.void
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** Constant-time comparison (both sides hashed first, so lengths never leak either). */
export const tokenMatches = (expected: Redacted.Redacted, presented: string): boolean =>
  timingSafeEqual(digest(Redacted.value(expected)), digest(presented))

export const tokenCookie = "evolve_token"

/** The token a request presents: Authorization bearer, then the cookie, then `?token=` (browsers). */
export const presentedToken = (request: HttpServerRequest.HttpServerRequest, url: URL) => {
  const auth = request.headers["authorization"]
  if (auth !== undefined && /^bearer\s+/i.test(auth)) return { token: auth.replace(/^bearer\s+/i, "").trim(), from: "header" as const }
  const cookie = request.cookies[tokenCookie]
  if (cookie !== undefined) return { token: cookie, from: "cookie" as const }
  const query = url.searchParams.get("token")
  if (query !== null) return { token: query, from: "query" as const }
  return undefined
}

export interface SecurityOptions {
  readonly token: Option.Option<Redacted.Redacted>
  /** The address the server binds: on loopback, requests must name a loopback Host (DNS rebinding). */
  readonly host: string
  readonly maxBodyBytes: number
}

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

const jsonError = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status, headers: securityHeaders })

const hostName = (hostHeader: string) => {
  try {
    return new URL(`http://${hostHeader}`).hostname
  } catch {
    return ""
  }
}

const bodyMethods = new Set(["POST", "PUT", "PATCH", "DELETE"])

const maxJsonDepth = 64

/** Nesting depth of a parsed JSON value, iteratively (stops counting past `limit`). */
const nestingDepth = (value: unknown, limit: number): number => {
  let deepest = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (typeof v !== "object" || v === null) continue
    if (depth > deepest) deepest = depth
    if (deepest > limit) return deepest
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1])
  }
  return deepest
}

/**
 * The server's outer middleware: Host/Origin checks, bearer token, body size cap and JSON
 * well-formedness, and plain JSON errors for unknown routes and unexpected failures. CORS is
 * off: no Access-Control-* header is ever sent, so browsers keep other origins out.
 */
export const middleware = (options: SecurityOptions) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const hostHeader = request.headers["host"] ?? ""
    const url = new URL(request.url, `http://${hostHeader || "localhost"}`)

    if (isLoopback(options.host) && !isLoopback(hostName(hostHeader))) {
      return jsonError(403, "Forbidden", "this server only answers requests addressed to a loopback host name")
    }
    const origin = request.headers["origin"]
    if (origin !== undefined && origin !== "null") {
      let originHost = ""
      try {
        originHost = new URL(origin).host
      } catch {
        // unparsable origin: refused below
      }
      if (originHost !== hostHeader) return jsonError(403, "Forbidden", "cross-origin requests are not allowed")
    } else if (origin === "null") {
      return jsonError(403, "Forbidden", "cross-origin requests are not allowed")
    }

    let setCookie: string | undefined
    if (Option.isSome(options.token)) {
      const presented = presentedToken(request, url)
      if (presented === undefined || !tokenMatches(options.token.value, presented.token)) {
        return jsonError(401, "Unauthorized", "missing or invalid bearer token").pipe(
          HttpServerResponse.setHeader("www-authenticate", "Bearer")
        )
      }
      if (presented.from === "query") setCookie = presented.token
    }

    if (bodyMethods.has(request.method)) {
      const length = Number(request.headers["content-length"] ?? "0")
      if (Number.isFinite(length) && length > options.maxBodyBytes) {
        return jsonError(413, "PayloadTooLarge", `request body larger than ${options.maxBodyBytes} bytes`)
      }
      const text = yield* Effect.either(HttpIncomingMessage.withMaxBodySize(request.text, Option.some(options.maxBodyBytes)))
      if (Either.isLeft(text)) {
        return /maxBytes/.test(String((text.left as { cause?: unknown }).cause))
          ? jsonError(413, "PayloadTooLarge", `request body larger than ${options.maxBodyBytes} bytes`)
          : jsonError(400, "BadRequest", "the request body could not be read")
      }
      const contentType = request.headers["content-type"] ?? ""
      if (text.right.length > 0 && contentType.includes("json")) {
        let parsed: unknown
        try {
          parsed = JSON.parse(text.right)
        } catch (e) {
          return jsonError(400, "MalformedJson", `malformed JSON body: ${(e as Error).message}`)
        }
        // Deeply nested bodies overflow the stack of recursive decoders and error formatters (a 500).
        if (nestingDepth(parsed, maxJsonDepth) > maxJsonDepth) {
          return jsonError(400, "MalformedJson", `JSON body nested deeper than ${maxJsonDepth} levels`)
        }
      }
      if ((text.right.length > 0 || contentType !== "") && !contentType.includes("application/json")) {
        return jsonError(415, "UnsupportedMediaType", "request bodies must be application/json")
      }
    }

    // The inner app writes its response itself: decorate it in a pre-response handler.
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.gen(function*() {
        let out = response
        if (out.body._tag === "Empty" && out.status === 404) {
          out = jsonError(404, "NotFound", `no route for ${request.method} ${url.pathname}`)
        } else if (out.body._tag === "Empty" && out.status >= 500) {
          out = jsonError(out.status, "InternalError", "internal server error")
        }
        out = HttpServerResponse.setHeaders(out, securityHeaders)
        if (setCookie === undefined) return out
        const plain = out
        return yield* HttpServerResponse.setCookies(out, [[tokenCookie, setCookie, {
          httpOnly: true,
          sameSite: "strict",
          path: "/"
        }]]).pipe(Effect.orElseSucceed(() => plain))
      })
    )
    return yield* app
  })
