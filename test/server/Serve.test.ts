import { NodeContext } from "@effect/platform-node"
import { ConfigProvider, Effect, Exit, Fiber, Option, Redacted } from "effect"
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { ServeFlags } from "../../src/config/ServeFlags.js"
import { serve, tokenFileName } from "../../src/server/Serve.js"
import { json, repository } from "./support.js"

const flags = (o: Partial<ServeFlags> = {}): ServeFlags => ({
  host: "127.0.0.1",
  port: 0,
  db: Option.none(),
  token: Option.none(),
  tokenFile: Option.none(),
  noToken: false,
  workspace: Option.some(repository),
  allowKeyEnv: Option.none(),
  allowBaseUrl: Option.none(),
  llmConcurrency: 2,
  evalConcurrency: 1,
  noResume: true,
  clusterHost: Option.none(),
  clusterPort: 34431,
  ...o
})

const env = (vars: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))

/** The ConfigError message serve stops with (it never gets to listen). */
const refusal = async (o: Partial<ServeFlags>, vars: Record<string, string> = {}) => {
  const exit = await Effect.runPromiseExit(serve(flags(o)).pipe(env(vars), Effect.provide(NodeContext.layer)))
  expect(Exit.isFailure(exit)).toBe(true)
  return Exit.isFailure(exit) ? JSON.stringify(exit.cause) : ""
}

describe("evolve serve's token", () => {
  it("refuses --token on the command line, --no-token off loopback, and a generated token off loopback", async () => {
    expect(await refusal({ token: Option.some(Redacted.make("a-token-of-enough-length")) })).toMatch(/--token-file FILE\) or in EVOLVE_TOKEN/)
    expect(await refusal({ host: "0.0.0.0", noToken: true })).toMatch(/--no-token: only on a loopback address/)
    expect(await refusal({ host: "0.0.0.0" })).toMatch(/requires a bearer token you choose/)
    expect(await refusal({ noToken: true }, { EVOLVE_TOKEN: "a-token-of-enough-length" })).toMatch(/choose one/)
    expect(await refusal({}, { EVOLVE_TOKEN: "short" })).toMatch(/at least 16 characters/)
    expect(await refusal({ allowKeyEnv: Option.some("OPENAI_API_KEY,EVOLVE_TOKEN") })).toMatch(/EVOLVE_TOKEN is a variable of the server itself/)
    expect(await refusal({ allowBaseUrl: Option.some("file:///etc") })).toMatch(/expected http\(s\) URLs/)
    expect(await refusal({ workspace: Option.some("/nonexistent/dir") })).toMatch(/no such directory/)
  })

  it("generates one, writes it 0600 next to a 0600 database in a 0700 directory, and removes it at shutdown", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "evolve-serve-cmd-")), "state")
    const db = join(dir, "evolve.db")
    const fiber = Effect.runFork(serve(flags({ db: Option.some(db) })).pipe(env({}), Effect.provide(NodeContext.layer)))
    const tokenFile = join(dir, tokenFileName)
    for (let i = 0; i < 200 && !(existsSync(tokenFile) && existsSync(db)); i++) await new Promise((r) => setTimeout(r, 25))
    try {
      const token = readFileSync(tokenFile, "utf8").trim()
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const mode = (file: string) => (statSync(file).mode & 0o777).toString(8)
      expect(mode(tokenFile)).toBe("600")
      expect(mode(db)).toBe("600")
      expect(mode(dir)).toBe("700")
      if (existsSync(`${db}-wal`)) expect(mode(`${db}-wal`)).toBe("600")
    } finally {
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
    expect(existsSync(tokenFile)).toBe(false)
  })

  it("reads a chosen token from --token-file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evolve-serve-cmd-"))
    const file = join(dir, "token")
    writeFileSync(file, "chosen-token-0123456789\n", { mode: 0o600 })
    const lines: Array<string> = []
    const original = console.log
    console.log = (...args: Array<unknown>) => lines.push(args.join(" "))
    const fiber = Effect.runFork(serve(flags({ db: Option.some(join(dir, "x.db")), tokenFile: Option.some(file) })).pipe(env({}), Effect.provide(NodeContext.layer)))
    try {
      for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 25))
      const url = /evolve serve: (http:\/\/\S+)/.exec(lines[0] ?? "")?.[1] ?? ""
      expect(lines[1]).toContain(`with the token from ${file}`)
      expect(lines.join("\n")).not.toContain("chosen-token-0123456789")
      expect((await json(`${url}/api/runs`)).status).toBe(401)
      expect((await json(`${url}/api/runs`, { headers: { authorization: "Bearer chosen-token-0123456789" } })).status).toBe(200)
      expect(existsSync(join(dir, tokenFileName))).toBe(false)
    } finally {
      console.log = original
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
  })
})
