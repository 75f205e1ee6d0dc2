import { cpSync, existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeOpenAiServer, startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { cliPath, runCli } from "../support/cli.js"

// The LLM preflight (issue 19 item 10): key, server and model checked before the run, each
// failure one line, against the fake OpenAI server on loopback.
const apiKey = "sk-preflight-test-123"
const workspace = () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-preflight-"))
  cpSync(resolve("examples/function_minimization"), dir, { recursive: true })
  return dir
}
const run = (dir: string, flags: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) =>
  runCli(["run", "initial_program.mjs", "evaluator.mjs", "--iterations", "4", "--db", "p.db", "--provider", "openai-chat", ...flags], dir, {
    OPENAI_API_KEY: apiKey,
    OPENAI_BASE_URL: undefined,
    ...env
  })

describe("LLM preflight", () => {
  let server: FakeOpenAiServer
  beforeAll(async () => {
    expect(existsSync(cliPath), "run `npm run build` first").toBe(true)
    server = await startFakeOpenAiServer({ seed: 3, requireApiKey: apiKey, model: "fake-coder" })
  })
  afterAll(() => server.close())

  it("a remote server without a key: one line, no request, nothing spent", async () => {
    const r = await run(workspace(), ["--base-url", "https://llm.example.invalid/v1", "--model", "m"], { OPENAI_API_KEY: undefined })
    expect(r.status).toBe(2)
    expect(r.stderr.trim()).toBe(
      "evolve: LLM preflight: model m at https://llm.example.invalid/v1: no API key: set the environment variable OPENAI_API_KEY (named by llm.api_key_env)"
    )
  })

  it("a server that is not there, a refused key, an unknown model", async () => {
    const dir = workspace()
    const down = await run(dir, ["--base-url", "http://127.0.0.1:1/v1", "--model", "m"])
    expect(down.status).toBe(2)
    expect(down.stderr).toMatch(/^evolve: LLM preflight: model m at http:\/\/127\.0\.0\.1:1\/v1: cannot reach the server/)
    expect(down.stderr.trim().split("\n")).toHaveLength(1)

    const refused = await run(dir, ["--base-url", server.url, "--model", "fake-coder"], { OPENAI_API_KEY: "sk-wrong" })
    expect(refused.status).toBe(2)
    expect(refused.stderr).toMatch(/LLM preflight: model fake-coder at .*: the server refused the API key from OPENAI_API_KEY \(HTTP 401/)

    server.setFaults({ sequence: ["404"] })
    const missing = await run(dir, ["--base-url", server.url, "--model", "no-such-model"])
    server.setFaults(undefined)
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/LLM preflight: model no-such-model at .*: model or endpoint not found \(HTTP 404/)
    expect(existsSync(join(dir, "p.db"))).toBe(false)
  })

  it("a working model: one tiny request first, then the run", async () => {
    const before = server.requests.length
    const ok = await run(workspace(), ["--base-url", server.url, "--model", "fake-coder"])
    expect(ok.status, ok.stderr).toBe(0)
    const first = server.requests[before]!
    expect(first.body.max_tokens).toBe(16)
    expect(server.requests.length - before).toBeGreaterThan(1)
  })
})
