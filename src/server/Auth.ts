/**
 * Who may use the server. With a token (the default): a request presents it as a bearer header,
 * or a browser logs in once — `?token=` in a link, or the login form — and gets a session cookie
 * holding a random session id (never the token). Wrong tokens are limited per client address.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Context, Effect, Either, Layer, Option, Redacted, Ref } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import loginPage from "./ui/embedded/login.html.generated.js"

export const sessionCookie = "evolve_session"

/** 256 random bits from the OS, for tokens and session ids (Effect's Random is not a CSPRNG). */
export const randomSecret = Effect.sync(() => randomBytes(32).toString("base64url"))

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** Constant-time comparison (both sides hashed first, so lengths never leak either). */
export const tokenMatches = (expected: Redacted.Redacted, presented: string): boolean =>
  timingSafeEqual(digest(Redacted.value(expected)), digest(presented))

export interface LoginLimit {
  /** Wrong tokens a client may present within `windowMs`; then it is refused (429) until the oldest leaves the window. */
  readonly failures: number
  readonly windowMs: number
}

export const defaultLoginLimit: LoginLimit = { failures: 10, windowMs: 60_000 }

/** Sessions kept at most; the oldest is dropped first. */
const maxSessions = 1000

type Verdict = { readonly _tag: "Ok" } | { readonly _tag: "Wrong" } | { readonly _tag: "Locked"; readonly retryAfterSeconds: number }

export type Outcome =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Respond"; readonly response: HttpServerResponse.HttpServerResponse }

export class Auth extends Context.Tag("evolve/Auth")<Auth, {
  /** Lets the request through, or answers it itself (login page, redirect, 401, 429). */
  readonly authenticate: (request: HttpServerRequest.HttpServerRequest, url: URL) => Effect.Effect<Outcome>
}>() {}

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store"
}

const loginCsp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// "same-origin": a form posted under "no-referrer" carries `Origin: null`, which the server refuses.
const login = (status: number, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(loginPage.replace("<!--message-->", message), {
    status,
    contentType: "text/html; charset=utf-8",
    headers: { ...securityHeaders, ...headers, "content-security-policy": loginCsp, "referrer-policy": "same-origin" }
  })

const wantsPage = (request: HttpServerRequest.HttpServerRequest) =>
  (request.method === "GET" || request.method === "HEAD") && (request.headers["accept"] ?? "").includes("text/html")

/** 401 as the login page for a browser (saying so when a token was wrong), as JSON for anything else. */
const unauthorized = (request: HttpServerRequest.HttpServerRequest, wrong: boolean) =>
  wantsPage(request)
    ? login(401, wrong ? `<p class="error">wrong token</p>` : "")
    : HttpServerResponse.unsafeJson(
      { _tag: "Unauthorized", message: "missing or invalid bearer token" },
      { status: 401, headers: { ...securityHeaders, "www-authenticate": "Bearer" } }
    )

const locked = (request: HttpServerRequest.HttpServerRequest, seconds: number) => {
  const message = `too many wrong tokens from this address; try again in ${seconds} s`
  const headers = { ...securityHeaders, "retry-after": String(seconds) }
  return wantsPage(request) || request.url.startsWith("/login")
    ? login(429, `<p class="error">${message}</p>`, headers)
    : HttpServerResponse.unsafeJson({ _tag: "TooManyRequests", message }, { status: 429, headers })
}

/** The URL without `token`, as a path on this server (never another host). */
const withoutToken = (url: URL) => {
  const params = new URLSearchParams(url.searchParams)
  params.delete("token")
  const query = params.toString()
  const path = `${url.pathname}${query === "" ? "" : `?${query}`}`
  return /^\/[^/\\]/.test(path) || path === "/" ? path : "/"
}

const bearerOf = (request: HttpServerRequest.HttpServerRequest) => {
  const auth = request.headers["authorization"]
  return auth !== undefined && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, "").trim() : undefined
}

/** Requires `token`: every request but the login page and the favicon. */
export const make = (token: Redacted.Redacted, limit: LoginLimit = defaultLoginLimit) =>
  Effect.gen(function*() {
    const failures = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<number>>>(new Map())
    const sessions = yield* Ref.make<ReadonlySet<string>>(new Set())

    const verify = (client: string, presented: string): Effect.Effect<Verdict> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(failures, (all): [Verdict, ReadonlyMap<string, ReadonlyArray<number>>] => {
          const recent = (all.get(client) ?? []).filter((at) => at > now - limit.windowMs)
          // Locked out: the token is not even compared, so guessing goes no faster than the limit.
          if (recent.length >= limit.failures) {
            return [{ _tag: "Locked", retryAfterSeconds: Math.max(1, Math.ceil((recent[0]! + limit.windowMs - now) / 1000)) }, all]
          }
          const next = new Map(all)
          if (tokenMatches(token, presented)) {
            if (recent.length === 0) next.delete(client)
            else next.set(client, recent)
            return [{ _tag: "Ok" }, next]
          }
          next.set(client, [...recent, now])
          return [{ _tag: "Wrong" }, next]
        }))

    const openSession = Effect.flatMap(randomSecret, (id) =>
      Ref.update(sessions, (all) => {
        const kept = [...all].slice(-(maxSessions - 1))
        return new Set([...kept, id])
      }).pipe(Effect.as(`${sessionCookie}=${id}; Path=/; HttpOnly; SameSite=Strict`)))

    const redirect = (location: string, cookie: string) =>
      HttpServerResponse.empty({ status: 303, headers: { ...securityHeaders, location, "set-cookie": cookie } })

    const respond = (response: HttpServerResponse.HttpServerResponse): Outcome => ({ _tag: "Respond", response })
    const pass: Outcome = { _tag: "Pass" }

    const authenticate = (request: HttpServerRequest.HttpServerRequest, url: URL): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const client = Option.getOrElse(request.remoteAddress, () => "unknown")
        if (url.pathname === "/favicon.ico") return pass
        if (url.pathname === "/login") {
          if (request.method !== "POST") return respond(login(200, ""))
          const body = yield* Effect.either(HttpIncomingMessage.withMaxBodySize(request.text, Option.some(4096)))
          const presented = Either.isRight(body) ? new URLSearchParams(body.right).get("token") ?? "" : ""
          const verdict = yield* verify(client, presented)
          if (verdict._tag === "Locked") return respond(locked(request, verdict.retryAfterSeconds))
          if (verdict._tag === "Wrong") return respond(login(401, `<p class="error">wrong token</p>`))
          return respond(redirect("/", yield* openSession))
        }
        // A token in the URL wins over a stale cookie; it is exchanged for a session and taken out of the URL.
        const query = url.searchParams.get("token")
        const presented = query ?? bearerOf(request)
        if (presented !== undefined) {
          const verdict = yield* verify(client, presented)
          if (verdict._tag === "Locked") return respond(locked(request, verdict.retryAfterSeconds))
          if (verdict._tag === "Wrong") return respond(unauthorized(request, true))
          if (query !== null && (request.method === "GET" || request.method === "HEAD")) {
            return respond(redirect(withoutToken(url), yield* openSession))
          }
          return pass
        }
        const session = request.cookies[sessionCookie]
        if (session !== undefined && (yield* Ref.get(sessions)).has(session)) return pass
        return respond(unauthorized(request, false))
      })

    return Auth.of({ authenticate })
  })

export const layer = (token: Redacted.Redacted, limit?: LoginLimit) => Layer.effect(Auth, make(token, limit))

/** No token (`--no-token`, loopback only): every request passes. */
export const open = Layer.succeed(Auth, Auth.of({ authenticate: () => Effect.succeed({ _tag: "Pass" }) }))
