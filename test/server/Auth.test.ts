import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, TestClock } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as Auth from "../../src/server/Auth.js"
import { json, rawRequest, type Running, startServer } from "./support.js"

const token = "auth-test-token-0123456789abcdef"

describe("the Auth service", () => {
  const request = (path: string, headers: Record<string, string> = {}) => {
    const url = new URL(path, "http://127.0.0.1:9")
    return [HttpServerRequest.fromWeb(new Request(url, { headers })), url] as const
  }
  const statusOf = (outcome: Auth.Outcome) => (outcome._tag === "Pass" ? 200 : outcome.response.status)

  it.effect("refuses every token (the right one too) from a client with too many wrong ones, until the window has passed", () =>
    Effect.gen(function*() {
      const auth = yield* Auth.make(Redacted.make(token), { failures: 3, windowMs: 60_000 })
      const bearer = (t: string) => auth.authenticate(...request("/api/runs", { authorization: `Bearer ${t}` }))
      expect(statusOf(yield* bearer(token))).toBe(200)
      for (let i = 0; i < 3; i++) expect(statusOf(yield* bearer(`wrong-${i}`))).toBe(401)
      const locked = yield* bearer(token)
      expect(statusOf(locked)).toBe(429)
      expect(locked._tag === "Respond" && locked.response.headers["retry-after"]).toBe("60")
      yield* TestClock.adjust("30 seconds")
      expect(statusOf(yield* bearer(token))).toBe(429)
      yield* TestClock.adjust("31 seconds")
      expect(statusOf(yield* bearer(token))).toBe(200)
    }))

  it.effect("answers a browser with the login page, anything else with JSON", () =>
    Effect.gen(function*() {
      const auth = yield* Auth.make(Redacted.make(token))
      const page = yield* auth.authenticate(...request("/", { accept: "text/html,application/xhtml+xml" }))
      expect(page._tag === "Respond" && page.response.status).toBe(401)
      expect(page._tag === "Respond" && page.response.headers["content-type"]).toMatch(/text\/html/)
      const api = yield* auth.authenticate(...request("/api/runs", { accept: "*/*" }))
      expect(api._tag === "Respond" && api.response.headers["content-type"]).toMatch(/json/)
      expect(api._tag === "Respond" && api.response.headers["www-authenticate"]).toBe("Bearer")
      expect(statusOf(yield* auth.authenticate(...request("/login")))).toBe(200)
      expect(statusOf(yield* auth.authenticate(...request("/favicon.ico")))).toBe(200)
    }))
})

describe("logging in to a server", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer({ token, loginLimit: { failures: 5, windowMs: 60_000 } })
  })
  afterAll(async () => {
    await server?.close()
  })

  const login = (body: string) =>
    rawRequest(`${server.url}/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body })
  const sessionOf = (r: { headers: Record<string, unknown> }) => String(r.headers["set-cookie"] ?? "").split(";")[0]!

  it("exchanges the login form's token for a session cookie; a wrong one shows the page again", async () => {
    const wrong = await login("token=nope")
    expect(wrong.status).toBe(401)
    expect(wrong.body).toContain("wrong token")
    expect(wrong.body).toContain("<form")
    const right = await login(`token=${encodeURIComponent(token)}`)
    expect(right.status).toBe(303)
    expect(right.headers["location"]).toBe("/")
    const session = sessionOf(right)
    expect(session).toMatch(/^evolve_session=[A-Za-z0-9_-]{43}$/)
    expect((await json(`${server.url}/api/runs`, { headers: { cookie: session } })).status).toBe(200)
    const page = await rawRequest(`${server.url}/`, { headers: { cookie: session, accept: "text/html" } })
    expect(page.status).toBe(200)
    expect(page.body).toContain("/assets/app.js")
  })

  it("lets a ?token= win over a stale cookie, and refuses a stale cookie alone", async () => {
    const stale = "evolve_session=from-an-earlier-server"
    expect((await json(`${server.url}/api/runs`, { headers: { cookie: stale } })).status).toBe(401)
    const fresh = await rawRequest(`${server.url}/?token=${token}`, { headers: { cookie: stale } })
    expect(fresh.status).toBe(303)
    expect(fresh.headers["location"]).toBe("/")
    expect((await json(`${server.url}/api/runs`, { headers: { cookie: sessionOf(fresh) } })).status).toBe(200)
    const wrongQuery = await rawRequest(`${server.url}/?token=nope`, { headers: { accept: "text/html" } })
    expect(wrongQuery.status).toBe(401)
    expect(wrongQuery.body).toContain("wrong token")
  })

  it("limits failed logins: past the limit a client gets 429 with Retry-After, and its session still works", async () => {
    const right = await login(`token=${encodeURIComponent(token)}`)
    const session = sessionOf(right)
    const statuses: Array<number> = []
    for (let i = 0; i < 8; i++) statuses.push((await json(`${server.url}/api/runs`, { headers: { authorization: `Bearer guess-${i}` } })).status)
    // 2 failures came from the tests above (wrong form token, wrong query token).
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429])
    const lockedOut = await json(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` } })
    expect(lockedOut.status).toBe(429)
    expect(Number(lockedOut.headers.get("retry-after"))).toBeGreaterThan(0)
    expect((await login(`token=${encodeURIComponent(token)}`)).status).toBe(429)
    expect((await json(`${server.url}/api/runs`, { headers: { cookie: session } })).status).toBe(200)
  })
})
