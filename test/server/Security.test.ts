import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Effect, Either, Exit, Layer, Logger, Option, Redacted, Scope } from "effect"
import { createServer } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Auth from "../../src/server/Auth.js"
import * as Security from "../../src/server/Security.js"
import * as Server from "../../src/server/Server.js"
import { json, post, rawRequest, readEvents, repository, type Running, startServer, tempDir } from "./support.js"

const token = "s3cret-token-for-tests-0123456789"

describe("bind policy", () => {
  it("treats 127.0.0.0/8, ::1 and localhost as loopback, and nothing else", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]) {
      expect(Security.isLoopback(host), host).toBe(true)
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "128.0.0.1", "", "localhost.example.com"]) {
      expect(Security.isLoopback(host), host).toBe(false)
    }
  })

  it("refuses a non-loopback address without a token, and a short token", () => {
    expect(Either.isRight(Security.bindPolicy("127.0.0.1", Option.none()))).toBe(true)
    expect(Either.getLeft(Security.bindPolicy("0.0.0.0", Option.none()))).toEqual(Option.some(expect.stringMatching(/EVOLVE_TOKEN/)))
    expect(Either.isLeft(Security.bindPolicy("0.0.0.0", Option.some(Redacted.make(""))))).toBe(true)
    expect(Either.getLeft(Security.bindPolicy("10.1.2.3", Option.some(Redacted.make("short"))))).toEqual(
      Option.some(expect.stringMatching(/16 characters/))
    )
    expect(Either.isRight(Security.bindPolicy("0.0.0.0", Option.some(Redacted.make(token))))).toBe(true)
  })

  it("compares tokens in constant time, whatever their lengths", () => {
    const expected = Redacted.make(token)
    expect(Auth.tokenMatches(expected, token)).toBe(true)
    expect(Auth.tokenMatches(expected, `${token}x`)).toBe(false)
    expect(Auth.tokenMatches(expected, "")).toBe(false)
    expect(Auth.tokenMatches(expected, token.slice(0, -1))).toBe(false)
  })

  it("does not start (nor bind) off loopback without a token", async () => {
    const dir = tempDir()
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Layer.build(Server.layer({
        host: "0.0.0.0",
        port: 0,
        databasePath: `${dir}/evolve.db`,
        token: Option.none(),
        llmConcurrency: 1,
        evaluationConcurrency: 1,
        resumeOnStart: false,
        maxBodyBytes: 1024,
        runPolicy: { workspace: { root: repository }, keyEnv: new Set(), origins: new Set(), loopback: true }
      })))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(JSON.stringify(exit)).toMatch(/requires a bearer token/)
    expect(String(Redacted.make(token))).not.toContain(token) // a Redacted never prints its value
  })
})

describe("a server with a bearer token", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer({ token })
  })
  afterAll(async () => {
    await server?.close()
  })

  it("refuses requests without the token, on every route", async () => {
    for (const path of ["/api/runs", "/", "/metrics", "/openapi.json", "/docs", "/assets/app.js", "/api/runs/x/events"]) {
      const r = await json(`${server.url}${path}`)
      expect(r.status, path).toBe(401)
      expect(r.headers.get("www-authenticate")).toBe("Bearer")
    }
    expect((await json(`${server.url}/api/runs`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
    expect((await post(`${server.url}/api/runs`, { program: "a", evaluator: "b" })).status).toBe(401)
  })

  it("accepts the bearer header, and exchanges a ?token= for a session cookie (not the token) and a clean URL", async () => {
    const ok = await json(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    const page = await rawRequest(`${server.url}/?token=${token}`)
    expect(page.status).toBe(303)
    expect(page.headers["location"]).toBe("/")
    const cookie = String(page.headers["set-cookie"] ?? "")
    expect(cookie).toMatch(/evolve_session=/)
    expect(cookie).not.toContain(token)
    expect(cookie).toMatch(/HttpOnly/i)
    expect(cookie).toMatch(/SameSite=Strict/i)
    const session = cookie.split(";")[0]!
    const viaCookie = await json(`${server.url}/api/runs`, { headers: { cookie: session } })
    expect(viaCookie.status).toBe(200)
    // Other parameters stay; only the token leaves the URL.
    const deep = await rawRequest(`${server.url}/api/runs/x/programs?limit=5&token=${token}`)
    expect(deep.headers["location"]).toBe("/api/runs/x/programs?limit=5")
    const events = await readEvents(`${server.url}/api/runs/run_nope/events`, () => true, {
      headers: { authorization: `Bearer ${token}` }
    }).catch((e: Error) => e.message)
    expect(events).toMatch(/HTTP 404/)
  })
})

describe("a 5xx answer", () => {
  it("is logged with a request id, which the answer names", async () => {
    const logs: Array<{ message: string; requestId: unknown; cause: string }> = []
    const logger = Logger.make(({ annotations, cause, message }) => {
      logs.push({ message: String(message), requestId: annotations.pipe((a) => [...a].find(([k]) => k === "requestId")?.[1]), cause: Cause.pretty(cause) })
    })
    const app = HttpRouter.empty.pipe(HttpRouter.get("/boom", Effect.die(new Error("kaboom"))))
    const layer = HttpServer.serve(Security.middleware({ host: "127.0.0.1", maxBodyBytes: 1024 })(app)).pipe(
      Layer.provide(Auth.open),
      Layer.provide(Logger.replace(Logger.defaultLogger, logger)),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    try {
      const url = Effect.runSync(Effect.provide(Server.baseUrl, context))
      const r = await json(`${url}/boom`)
      expect(r.status).toBe(500)
      expect(r.body).toEqual({ _tag: "InternalError", message: "internal server error", requestId: expect.stringMatching(/^[0-9a-f]{14}$/) })
      expect(r.headers.get("x-request-id")).toBe(r.body.requestId)
      expect(r.body.message).not.toContain("kaboom")
      const logged = logs.find((l) => l.requestId === r.body.requestId)
      expect(logged?.message).toContain("GET /boom answered 500")
      expect(logged?.cause).toContain("kaboom")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
