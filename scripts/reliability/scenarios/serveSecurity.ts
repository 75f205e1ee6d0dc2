/**
 * 8. `evolve serve` is safe by default (issue 21): every probe of the issue against the real CLI,
 * as another local user or process would send it.
 *
 * - 8a token by default: a generated token (0600 file, printed once as a login link, not in
 *   `ps`), 401 without it (the login page for a browser), `?token=` exchanged for a session
 *   cookie with a random id and a clean URL, the query winning over a stale cookie, the login
 *   form, `--token` refused, `--no-token` loopback only with a warning, a failed-login limit.
 * - 8b the workspace and the secrets: traversal, a symbolic link out, a shell command, a template
 *   and a replay file outside, API keys named or sent where the server does not allow; a capture
 *   server on loopback must see nothing; a run with an allowed key and URL still works.
 * - 8c hardening: prototype asset names, a YAML alias bomb and oversized YAML, config.database
 *   and __proto__ keys, a CSP on every page (/docs included), request ids, and the modes of the
 *   database, its WAL, the token file and the state directory.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  check,
  filesContaining,
  looksLikeStackTrace,
  newResult,
  root,
  runCli,
  type ScenarioResult,
  sleep,
  waitFor,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"
import { type Reply, send, type Service, startService, stopService } from "../serveClient.js"

const KEY = "sk-reliability-SECRET-serve-security-3c1d"
const OTHER = "sk-other-provider-SECRET-9e8f"
const CHOSEN = "evolve-token-reliability-SECRET-chosen-42"

/** A loopback server that records every request (an attacker's endpoint). */
const captureServer = () =>
  new Promise<{ url: string; seen: Array<string>; close: () => void }>((resolve) => {
    const seen: Array<string> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        seen.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)} ${Buffer.concat(chunks).toString("utf8")}`)
        res.writeHead(500).end()
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address ? address.port : 0
      resolve({ url: `http://127.0.0.1:${port}/v1`, seen, close: () => server.close() })
    })
  })

const mode = (file: string) => (existsSync(file) ? (statSync(file).mode & 0o777).toString(8).padStart(3, "0") : "missing")
const header = (r: Reply, name: string) => String(r.headers?.[name] ?? "")
const cookieOf = (r: Reply) => header(r, "set-cookie").split(";")[0]!

export const serveSecurity = async (options: Options): Promise<Array<ScenarioResult>> => {
  const ws = workspace("serve-security")
  const outside = join(root(), "serve-security-outside")
  mkdirSync(outside, { recursive: true })
  writeFileSync(join(outside, "secret.txt"), "TOP-SECRET-FILE-CONTENT\n")
  symlinkSync(join(outside, "secret.txt"), join(ws.dir, "innocent.mjs"))
  const marker = join(outside, "pwned")
  const capture = await captureServer()
  const fake = await startFakeOpenAiServer({ latency: { meanMs: 20, jitterMs: 10 }, seed: 81, requireApiKey: KEY })
  const stateDir = join(ws.dir, "state")
  const db = join(stateDir, "serve.db")
  const env = { OPENAI_API_KEY: KEY, ANTHROPIC_API_KEY: OTHER }
  const service = await startService(["--db", db, "--allow-base-url", fake.url], { cwd: ws.dir, env, timeoutMs: 10 * 60_000 })
  const a = newResult("8a", "Serve security: a token by default, login, sessions")
  const b = newResult("8b", "Serve security: workspace root, secrets stay home")
  const c = newResult("8c", "Serve security: hardening, file modes")
  try {
    if ("error" in service) {
      check(a, "the service starts", false, service.error)
      return [a, b, c]
    }
    await tokenProbes(a, service, stateDir, options)
    await workspaceProbes(b, service, ws.dir, outside, marker, capture, fake)
    await hardeningProbes(c, service, db, stateDir)
    await rateLimit(a, service)
  } finally {
    if (!("error" in service)) {
      const r = await stopService(service)
      check(a, "the service stops on SIGTERM", r.code === 0 || r.code === 130, `exit ${r.code}/${r.signal}`)
      check(a, "the generated token file is removed at shutdown", !existsSync(join(stateDir, "serve.token")))
      check(c, "no stack trace in the service's output", !looksLikeStackTrace(r.stderr), r.stderr.slice(-800))
      const out = r.stdout + r.stderr
      check(b, "no API key in the service's output", !out.includes(KEY) && !out.includes(OTHER))
      const loginLines = out.split("\n").filter((l) => /log in at .*\?token=/.test(l))
      check(a, "the login link is printed once", loginLines.length === 1, loginLines.join("\n"))
    }
    capture.close()
    await fake.close()
  }
  check(b, "the capture server on loopback saw no request at all", capture.seen.length === 0, capture.seen.slice(0, 3).join("\n"))
  for (const [what, secret] of [["OPENAI_API_KEY", KEY], ["ANTHROPIC_API_KEY", OTHER]] as const) {
    const files = filesContaining(ws.dir, secret)
    check(b, `${what} in no file of the workspace`, files.length === 0, files.join(", "))
  }
  await commandLine(a, ws.dir)
  for (const r of [a, b, c]) {
    r.attempts = r.checks.length
    r.survived = r.checks.filter((x) => x.ok).length
    r.lost = r.attempts - r.survived
  }
  return [a, b, c]
}

// ---- 8a ---------------------------------------------------------------------------------------------

const tokenProbes = async (r: ScenarioResult, service: Service, stateDir: string, _options: Options) => {
  const url = service.url
  const login = /log in at \S+\?token=(\S+)/.exec(service.proc.output().stdout)?.[1] ?? ""
  const tokenFile = join(stateDir, "serve.token")
  const stored = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : ""
  check(r, "a random token is generated, printed in the login link and stored in serve.token", login.length >= 43 && login === stored, `${login.length} chars`)
  r.figures["token file"] = `${tokenFile} mode ${mode(tokenFile)}`
  const cmdline = readFileSync(`/proc/${service.proc.pid}/cmdline`, "utf8")
  check(r, "the token is not on the command line (ps)", !cmdline.includes(login))

  const get = (path: string, headers: Record<string, string> = {}) => send(url, { method: "GET", path, headers })
  const none = await get("/api/runs")
  check(r, "no token: GET /api/runs → 401 JSON with WWW-Authenticate", none.status === 401 && header(none, "www-authenticate") === "Bearer", `${none.status}`)
  const page = await get("/", { accept: "text/html" })
  check(r, "no token, browser: GET / → the login page (401, HTML form, not JSON)", page.status === 401 && page.body.includes("<form"), `${page.status} ${page.body.slice(0, 80)}`)
  const bearer = await get("/api/runs", { authorization: `Bearer ${login}` })
  check(r, "the bearer header → 200", bearer.status === 200, `${bearer.status}`)

  const exchanged = await get(`/?token=${login}`, { accept: "text/html" })
  const session = cookieOf(exchanged)
  check(r, "?token= → 303 to the same URL without the token", exchanged.status === 303 && header(exchanged, "location") === "/", `${exchanged.status} ${header(exchanged, "location")}`)
  check(r, "the cookie holds a random session id, not the token (HttpOnly, SameSite=Strict)", /^evolve_session=/.test(session) && !header(exchanged, "set-cookie").includes(login) && /HttpOnly/i.test(header(exchanged, "set-cookie")) && /SameSite=Strict/i.test(header(exchanged, "set-cookie")), header(exchanged, "set-cookie").replace(login, "<TOKEN>"))
  const withSession = await get("/api/runs", { cookie: session })
  check(r, "the session cookie → 200", withSession.status === 200, `${withSession.status}`)
  const stale = await get(`/?token=${login}`, { cookie: "evolve_session=stale-from-an-old-server" })
  check(r, "a fresh ?token= wins over a stale cookie (303 and a new session)", stale.status === 303 && cookieOf(stale) !== "" && cookieOf(stale) !== session, `${stale.status}`)
  const staleAlone = await get("/api/runs", { cookie: "evolve_session=stale-from-an-old-server" })
  check(r, "a stale cookie alone → 401", staleAlone.status === 401, `${staleAlone.status}`)
  const form = (token: string) =>
    send(url, { method: "POST", path: "/login", headers: { "content-type": "application/x-www-form-urlencoded", origin: url }, body: `token=${encodeURIComponent(token)}` })
  const wrongForm = await form("not-the-token")
  check(r, "the login form with a wrong token → 401, the page again", wrongForm.status === 401 && wrongForm.body.includes("wrong token"), `${wrongForm.status}`)
  const rightForm = await form(login)
  check(r, "the login form with the token → 303 and a session cookie", rightForm.status === 303 && /^evolve_session=/.test(cookieOf(rightForm)), `${rightForm.status}`)
  r.figures["probes (no token, browser, bearer, ?token=, cookie, stale cookie, form wrong/right)"] =
    [none, page, bearer, exchanged, withSession, stale, staleAlone, wrongForm, rightForm].map((x) => x.status).join(" ")
}

/** Last: it locks this client out. */
const rateLimit = async (r: ScenarioResult, service: Service) => {
  const statuses: Array<number> = []
  let retryAfter = ""
  for (let i = 0; i < 12; i++) {
    const reply = await send(service.url, { method: "GET", path: "/api/runs", headers: { authorization: `Bearer guess-${i}` } })
    statuses.push(reply.status)
    if (reply.status === 429) retryAfter = header(reply, "retry-after")
  }
  r.figures["12 wrong tokens in a row"] = `${statuses.join(" ")} (Retry-After ${retryAfter} s)`
  check(r, "failed logins are limited: 429 with Retry-After after the first ones", statuses.includes(429) && statuses[0] === 401 && Number(retryAfter) > 0, statuses.join(" "))
}

const commandLine = async (r: ScenarioResult, dir: string) => {
  const db = join(dir, "state", "cli-probes.db")
  const refused = await runCli(["serve", "--port", "0", "--db", db, "--token", CHOSEN], { cwd: dir, timeoutMs: 30_000 })
  check(r, "--token on the command line → exit 2, pointing to --token-file / EVOLVE_TOKEN", refused.code === 2 && /--token-file/.test(refused.stderr), `${refused.code}: ${refused.stderr.slice(0, 200)}`)
  const exposed = await runCli(["serve", "--port", "0", "--db", db, "--host", "0.0.0.0", "--no-token"], { cwd: dir, timeoutMs: 30_000 })
  check(r, "--no-token off loopback → exit 2", exposed.code === 2, `${exposed.code}: ${exposed.stderr.slice(0, 200)}`)
  const open = await startService(["--db", db, "--no-token"], { cwd: dir, timeoutMs: 60_000 })
  if ("error" in open) {
    check(r, "--no-token on loopback starts", false, open.error)
  } else {
    await waitFor(() => /warning/.test(open.proc.output().stderr), 5_000)
    check(r, "--no-token on loopback starts, with a warning", /warning: --no-token/.test(open.proc.output().stderr), open.proc.output().stderr.slice(0, 200))
    const reply = await send(open.url, { method: "GET", path: "/api/runs" })
    check(r, "--no-token: the API answers without a token", reply.status === 200, `${reply.status}`)
    await stopService(open)
  }
  const file = join(dir, "state", "chosen.token")
  writeFileSync(file, `${CHOSEN}\n`)
  chmodSync(file, 0o600)
  const chosen = await startService(["--db", db, "--token-file", file], { cwd: dir, timeoutMs: 60_000 })
  if ("error" in chosen) {
    check(r, "--token-file starts", false, chosen.error)
  } else {
    await sleep(200)
    const out = chosen.proc.output().stdout
    const ok = await send(chosen.url, { method: "GET", path: "/api/runs", headers: { authorization: `Bearer ${CHOSEN}` } })
    check(r, "--token-file: its token works, is not printed, and no serve.token is written", ok.status === 200 && !out.includes(CHOSEN) && !existsSync(join(dir, "state", "serve.token")), `${ok.status}`)
    await stopService(chosen)
  }
}

// ---- 8b ---------------------------------------------------------------------------------------------

const workspaceProbes = async (
  r: ScenarioResult,
  service: Service,
  dir: string,
  outside: string,
  marker: string,
  capture: { url: string },
  fake: { url: string; requests: ReadonlyArray<{ headers: Record<string, unknown> }> }
) => {
  const token = /log in at \S+\?token=(\S+)/.exec(service.proc.output().stdout)?.[1] ?? ""
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" }
  const create = (body: unknown) => send(service.url, { method: "POST", path: "/api/runs", headers: auth, body: JSON.stringify(body) })
  const base = { program: "initial_program.mjs", evaluator: "evaluator.mjs" }
  const offline = { llm: { provider: "offline" }, max_evaluations: 2 }
  const chat = (llm: Record<string, unknown>) => ({ max_evaluations: 2, llm: { provider: "openai-chat", model: "fake-coder", ...llm } })
  const probes: ReadonlyArray<readonly [string, unknown, string]> = [
    ["program: <workspace>/../secret.txt", { ...base, program: `${dir}/../serve-security-outside/secret.txt`, config: offline }, "program"],
    ["program: /etc/hostname", { ...base, program: "/etc/hostname", config: offline }, "program"],
    ["program: a symbolic link to a file outside", { ...base, program: "innocent.mjs", config: offline }, "program"],
    ["evaluator.command: [sh, -c, id > …]", { ...base, config: { ...offline, evaluator: { command: ["sh", "-c", `id > ${marker}`] } } }, "evaluator.command"],
    ["evaluator.command: [/bin/sh, -c, id > …]", { ...base, config: { ...offline, evaluator: { command: ["/bin/sh", "-c", `id > ${marker}`] } } }, "evaluator.command"],
    ["prompt.user_template_file: /etc/hostname", { ...base, config: { ...offline, prompt: { user_template_file: "/etc/hostname" } } }, "prompt.user_template_file"],
    ["llm.replay_file outside", { ...base, config: { llm: { provider: "replay", replay_file: join(outside, "secret.txt") } } }, "llm.replay_file"],
    ["api_key_env: EVOLVE_TOKEN to the capture server", { ...base, config: chat({ base_url: capture.url, api_key_env: "EVOLVE_TOKEN" }) }, "config.llm.api_key_env"],
    ["api_key_env: ANTHROPIC_API_KEY (not allowed)", { ...base, config: chat({ base_url: fake.url, api_key_env: "ANTHROPIC_API_KEY" }) }, "config.llm.api_key_env"],
    ["OPENAI_API_KEY to the capture server", { ...base, config: chat({ base_url: capture.url }) }, "config.llm.base_url"],
    ["an ensemble model at the capture server", { ...base, config: chat({ base_url: fake.url, models: [{ model: "a" }, { model: "b", base_url: capture.url }] }) }, "config.llm.models.1.base_url"],
    ["embeddings at the capture server", { ...base, config: { ...offline, llm: { provider: "offline", embedding: { base_url: capture.url } } } }, "config.llm.embedding.base_url"],
    ["config_yaml: OPENAI_API_KEY to the capture server", { ...base, config_yaml: `llm:\n  provider: openai-chat\n  base_url: ${capture.url}\n` }, "config.llm.base_url"]
  ]
  for (const [what, body, path] of probes) {
    const reply = await create(body)
    let got = ""
    try {
      got = (JSON.parse(reply.body) as { path?: string }).path ?? ""
    } catch {
      // not JSON
    }
    r.figures[what] = `${reply.status} ${got}`
    check(r, `${what} → 400 naming ${path}`, reply.status === 400 && got === path && !reply.body.includes("TOP-SECRET"), reply.body.slice(0, 300))
  }
  check(r, "no command ran (the marker file does not exist)", !existsSync(marker))
  const allowed = await create({ ...base, config: chat({ base_url: fake.url }) })
  check(r, "control: OPENAI_API_KEY to the allowed base URL → 201", allowed.status === 201, allowed.body.slice(0, 300))
  await waitFor(() => fake.requests.length > 0, 30_000)
  check(r, "control: the allowed server received the key", fake.requests.some((q) => q.headers["authorization"] === `Bearer ${KEY}`))
}

// ---- 8c ---------------------------------------------------------------------------------------------

const hardeningProbes = async (r: ScenarioResult, service: Service, db: string, stateDir: string) => {
  const token = /log in at \S+\?token=(\S+)/.exec(service.proc.output().stdout)?.[1] ?? ""
  const auth = { authorization: `Bearer ${token}` }
  const get = (path: string) => send(service.url, { method: "GET", path, headers: auth })
  const create = (body: string) =>
    send(service.url, { method: "POST", path: "/api/runs", headers: { ...auth, "content-type": "application/json" }, body })
  const base = `"program": "initial_program.mjs", "evaluator": "evaluator.mjs"`
  for (const name of ["constructor", "__proto__", "toString"]) {
    const reply = await get(`/assets/${name}`)
    check(r, `/assets/${name} → 404`, reply.status === 404, `${reply.status}`)
  }
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]", ..."bcdefgh".split("").map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`)].join("\n")
  const cases: ReadonlyArray<readonly [string, string, number, string]> = [
    ["a YAML alias bomb in config_yaml", `{${base}, "config_yaml": ${JSON.stringify(bomb)}}`, 400, "config_yaml"],
    ["config_yaml over 64 KiB", `{${base}, "config_yaml": ${JSON.stringify(`goal: "${"x".repeat(70_000)}"`)}}`, 400, "config_yaml"],
    ["config.database.path", `{${base}, "config": {"database": {"path": "/tmp/elsewhere.db"}}}`, 400, "config.database"],
    ["a __proto__ key in config", `{${base}, "config": {"__proto__": {"max_evaluations": 3}}}`, 400, "config.__proto__"],
    ["an unknown key in config", `{${base}, "config": {"llm": {"provider": "offline", "colour": "blue"}}}`, 400, "config.llm.colour"]
  ]
  for (const [what, body, status, path] of cases) {
    const reply = await create(body)
    let got = ""
    try {
      got = (JSON.parse(reply.body) as { path?: string }).path ?? ""
    } catch {
      // not JSON
    }
    r.figures[what] = `${reply.status} ${got}`
    check(r, `${what} → ${status} naming ${path}`, reply.status === status && got === path, reply.body.slice(0, 200))
  }
  for (const path of ["/", "/docs", "/login", "/api/runs", "/metrics", "/openapi.json"]) {
    const reply = await get(path)
    const csp = header(reply, "content-security-policy")
    check(r, `${path}: a Content-Security-Policy and a request id`, /default-src '(none|self)'/.test(csp) && /frame-ancestors 'none'/.test(csp) && /^[0-9a-f]{14}$/.test(header(reply, "x-request-id")), csp.slice(0, 120))
    if (path === "/docs") r.figures["/docs CSP"] = `${csp.slice(0, 60)}… (${(csp.match(/sha256-/g) ?? []).length} script hashes, page ${reply.body.length} bytes)`
  }
  await waitFor(() => existsSync(`${db}-wal`), 5_000)
  const modes = { [db]: "600", [`${db}-wal`]: "600", [join(stateDir, "serve.token")]: "600", [stateDir]: "700" }
  for (const [file, want] of Object.entries(modes)) {
    r.figures[`mode of ${file.slice(stateDir.length - 5)}`] = mode(file)
    check(r, `${file.slice(stateDir.length - 5)} is ${want}`, mode(file) === want, mode(file))
  }
}
