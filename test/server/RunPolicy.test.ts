import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server as HttpServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

// A workspace with the example, and next to it (outside) a secret file and a template.
const outside = realpathSync(mkdtempSync(join(tmpdir(), "evolve-policy-")))
const ws = join(outside, "ws")
mkdirSync(ws)
cpSync(example("initial_program.mjs"), join(ws, "initial_program.mjs"))
cpSync(example("evaluator.mjs"), join(ws, "evaluator.mjs"))
writeFileSync(join(outside, "secret.txt"), "TOP-SECRET-CONTENT\n")
writeFileSync(join(outside, "template.md"), "{{current_program}}\n")
symlinkSync(join(outside, "secret.txt"), join(ws, "innocent.mjs"))
// A coding agent that is a file of the workspace (it edits nothing).
writeFileSync(join(ws, "agent.sh"), "#!/bin/sh\ncat > /dev/null\n", { mode: 0o755 })
const marker = join(outside, "pwned")

const base = { program: "initial_program.mjs", evaluator: "evaluator.mjs" }
const offline = { llm: { provider: "offline" }, max_evaluations: 2 }

describe("runs created through the API", () => {
  let server: Running
  let capture: HttpServer
  let captured: Array<string> = []
  let captureUrl = ""
  beforeAll(async () => {
    capture = createServer((req, res) => {
      captured.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`)
      res.writeHead(500).end()
    })
    await new Promise<void>((r) => capture.listen(0, "127.0.0.1", () => r()))
    const address = capture.address()
    captureUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/v1`
    server = await startServer({
      workspace: ws,
      allowKeyEnv: ["OPENAI_API_KEY"],
      allowOrigins: ["http://127.0.0.1:1"],
      maxBodyBytes: 1024 * 1024
    })
  })
  afterAll(async () => {
    await server?.close()
    capture?.close()
    rmSync(outside, { recursive: true, force: true })
  })

  const create = (body: Record<string, unknown>) => server.post("/api/runs", body)
  const refused = async (body: Record<string, unknown>, path: string, message: RegExp) => {
    const r = await create(body)
    expect(r.status, JSON.stringify(r.body)).toBe(400)
    expect(r.body.path).toBe(path)
    expect(r.body.message).toMatch(message)
    expect(JSON.stringify(r.body)).not.toContain("TOP-SECRET")
  }

  it("take relative paths from the workspace", async () => {
    const r = await create({ ...base, config: offline })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.program).toBe(join(ws, "initial_program.mjs"))
  })

  it("read nothing outside the workspace, symbolic links resolved", async () => {
    await refused({ ...base, program: `${ws}/../secret.txt`, config: offline }, "program", /outside the workspace/)
    await refused({ ...base, program: "/etc/hostname", config: offline }, "program", /outside the workspace/)
    await refused({ ...base, program: "innocent.mjs", config: offline }, "program", /symbolic link out of the workspace/)
    await refused({ ...base, evaluator: "../secret.txt", config: offline }, "evaluator", /outside the workspace/)
    await refused(
      { ...base, config: { ...offline, prompt: { user_template_file: "/etc/hostname" } } },
      "prompt.user_template_file",
      /outside the workspace/
    )
    await refused(
      { ...base, config: { ...offline, prompt: { system_template_file: "../template.md" } } },
      "prompt.system_template_file",
      /outside the workspace/
    )
    await refused(
      { ...base, config: { llm: { provider: "replay", replay_file: "../secret.txt" } } },
      "llm.replay_file",
      /outside the workspace/
    )
  })

  it("run no command that is not a file in the workspace", async () => {
    await refused(
      { ...base, config: { ...offline, evaluator: { command: ["sh", "-c", `id > ${marker}`] } } },
      "evaluator.command",
      /looked up on PATH/
    )
    await refused(
      { ...base, config: { ...offline, evaluator: { command: ["/bin/sh", "-c", `id > ${marker}`] } } },
      "evaluator.command",
      /outside the workspace/
    )
    await refused(
      { ...base, config: { ...offline, evaluator: { contract: "openevolve", python: "/bin/sh" } } },
      "evaluator.python",
      /outside the workspace/
    )
    expect(existsSync(marker)).toBe(false)
  })

  it("run no coding agent (provider agent) that is not a file in the workspace, nor pass it the server's environment", async () => {
    const agent = (command: ReadonlyArray<string>, extra: Record<string, unknown> = {}) => ({
      ...base,
      config: { max_evaluations: 1, llm: { provider: "agent", agent: { command, ...extra } } }
    })
    await refused(agent(["sh", "-c", `id > ${marker}`]), "llm.agent.command", /looked up on PATH/)
    await refused(agent(["/bin/sh", "-c", `id > ${marker}`]), "llm.agent.command", /outside the workspace/)
    await refused(
      { ...base, config: { max_evaluations: 1, llm: { provider: "agent", models: [{ model: "m", agent: { command: ["../secret.txt"] } }] } } },
      "llm.models.0.agent.command",
      /outside the workspace/
    )
    // OpenEvolve's claude_code passes Claude's keys and runs `claude` from PATH: refused.
    await refused(
      { ...base, config_yaml: "max_iterations: 1\nllm:\n  provider: claude_code\n" },
      "config.llm.agent.pass_env",
      /cannot pass the server's environment to a coding agent/
    )
    await refused(
      { ...base, config_yaml: "max_iterations: 1\nllm:\n  provider: claude_code\n  agent: { command: [claude, -p] }\n" },
      "llm.agent.command",
      /looked up on PATH/
    )
    await refused(agent(["agent.sh"], { pass_env: ["ANTHROPIC_API_KEY"] }), "config.llm.agent.pass_env", /cannot pass the server's environment/)
    expect(existsSync(marker)).toBe(false)
    const ok = await create(agent(["./agent.sh"], { env: { AGENT_MODE: "test" } }))
    expect(ok.status, JSON.stringify(ok.body)).toBe(201)
  })

  it("send API keys only from allowed variables to allowed base URLs, and never name the server's own variables", async () => {
    const chat = { ...offline, llm: { provider: "openai-chat", model: "m", base_url: captureUrl } }
    await refused({ ...base, config: { ...chat, llm: { ...chat.llm, api_key_env: "EVOLVE_TOKEN" } } }, "config.llm.api_key_env", /variable of the server itself/)
    await refused({ ...base, config: { ...offline, llm: { provider: "offline", api_key_env: "EVOLVE_TOKEN" } } }, "config.llm.api_key_env", /server itself/)
    await refused({ ...base, config: { ...chat, llm: { ...chat.llm, api_key_env: "HOME" } } }, "config.llm.api_key_env", /not on the server's allow-list/)
    await refused({ ...base, config: chat }, "config.llm.base_url", /only to allowed base URLs/)
    await refused(
      { ...base, config: { ...offline, llm: { provider: "openai-chat", base_url: "http://127.0.0.1:1/v1", models: [{ model: "a" }, { model: "b", base_url: captureUrl }] } } },
      "config.llm.models.1.base_url",
      /allowed base URLs/
    )
    await refused(
      { ...base, config: { ...offline, llm: { provider: "offline", embedding: { base_url: captureUrl } } } },
      "config.llm.embedding.base_url",
      /allowed base URLs/
    )
    await refused(
      { ...base, config_yaml: `llm:\n  provider: openai-chat\n  base_url: ${captureUrl}\nmax_evaluations: 2\n` },
      "config.llm.base_url",
      /allowed base URLs/
    )
    expect(captured).toEqual([])
  })

  it("pass none of the server's environment to an evaluator (evaluator.pass_env)", async () => {
    for (const pass_env of [["OPENAI_API_KEY"], ["*"]]) {
      await refused({ ...base, config: { ...offline, evaluator: { pass_env } } }, "config.evaluator.pass_env", /cannot pass the server's environment/)
    }
    const fixed = await create({ ...base, config: { ...offline, evaluator: { env: { DATA_ROOT: "/data" } } } })
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(201)
  })

  it("refuse settings that belong to the server, prototype keys, alias bombs and huge YAML", async () => {
    await refused({ ...base, config: { ...offline, database: { path: "/tmp/elsewhere.db" } } }, "config.database", /--db/)
    const proto = await server.json("/api/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"program": "initial_program.mjs", "evaluator": "evaluator.mjs", "config": {"__proto__": {"max_evaluations": 3}}}`
    })
    expect(proto.status).toBe(400)
    expect(proto.body.path).toBe("config.__proto__")
    expect(proto.body.message).toMatch(/unknown key/)
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]", ..."bcdefg".split("").map((k, i) =>
      `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`)].join("\n")
    await refused({ ...base, config_yaml: bomb }, "config_yaml", /alias/i)
    await refused({ ...base, config_yaml: `goal: "${"x".repeat(70_000)}"\n` }, "config_yaml", /bytes of settings, more than 65536/)
  })

  it("answer asset names of Object's prototype with a 404", async () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      expect((await server.json(`/assets/${name}`)).status, name).toBe(404)
    }
  })

  it("send a Content-Security-Policy with every answer, the API docs included", async () => {
    for (const path of ["/", "/docs", "/login", "/api/runs", "/metrics", "/openapi.json", "/assets/app.js", "/nothing"]) {
      const r = await server.json(path)
      const csp = r.headers.get("content-security-policy") ?? ""
      expect(csp, path).toMatch(/^default-src '(none|self)'/)
      expect(csp, path).toContain("frame-ancestors 'none'")
      if (path === "/docs") expect(csp).toMatch(/script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')+/)
      expect(r.headers.get("x-request-id"), path).toMatch(/^[0-9a-f]{14}$/)
    }
  })
})
