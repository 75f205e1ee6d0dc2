/**
 * 5. Secrets: with OPENAI_API_KEY and EVOLVE_TOKEN set, a full run (with --debug spans on), a
 * crash (kill -9) and its resume, a run against a server that echoes the Authorization header in
 * its error bodies, `best -o`, `show` and `ls` must leave neither secret in the database files
 * (db, -wal, -shm), stdout/stderr, the evaluator's environment, exported files, or any other
 * file evolve wrote.
 */
import { createServer } from "node:http"
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  check,
  type CliResult,
  configFile,
  filesContaining,
  newResult,
  query,
  runCli,
  type ScenarioResult,
  sleep,
  startCli,
  waitFor,
  committedEvaluations,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"

export const KEY = "sk-reliability-SECRET-7f3a9c1e5b2d4f60"
export const TOKEN = "evolve-token-reliability-SECRET-0b8e2d7c"

/** An evaluator that dumps its environment (and /proc/self/environ) next to the log, then evaluates. */
const envDumpingEvaluator = (dumpDir: string) =>
  `import { readFileSync, writeFileSync } from "node:fs"
writeFileSync(${JSON.stringify(dumpDir)} + "/env-" + process.pid + ".json",
  JSON.stringify({ env: process.env, proc: readFileSync("/proc/self/environ", "latin1"), argv: process.argv }))
await import("./evaluator.mjs")
`

/** A server that answers every chat request with an error echoing the request's Authorization header. */
const echoServer = () =>
  new Promise<{ url: string; close: () => Promise<void>; requests: () => number }>((resolve) => {
    let n = 0
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        n++
        const auth = req.headers.authorization ?? ""
        const status = n % 3 === 0 ? 500 : n % 3 === 1 ? 401 : 400
        const body = JSON.stringify({
          error: { message: `Invalid credentials: you sent '${auth}' (key ${auth.replace(/^Bearer /, "")})`, code: status }
        })
        res.writeHead(status, { "content-type": "application/json", "x-echo-auth": auth })
        res.end(body)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address ? address.port : 0
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        close: () => new Promise<void>((done) => server.close(() => done())),
        requests: () => n
      })
    })
  })

export const secrets = async (options: Options): Promise<ScenarioResult> => {
  const result = newResult("5", "Secrets (API key, service token)")
  const ws = workspace("secrets")
  const dumps = join(ws.dir, "envdumps")
  writeFileSync(join(ws.dir, "dump_evaluator.mjs"), envDumpingEvaluator(ws.dir + "/envdumps"))
  mkdirSync(dumps, { recursive: true })
  const env = { OPENAI_API_KEY: KEY, EVOLVE_TOKEN: TOKEN }
  const outputs: Array<[string, CliResult]> = []
  const n = options.quick ? 20 : 40

  const server = await startFakeOpenAiServer({ latency: { meanMs: 30, jitterMs: 20 }, seed: 31, requireApiKey: KEY })
  try {
    writeFileSync(
      join(ws.dir, "rel.yaml"),
      configFile({
        max_evaluations: n,
        llm: { provider: "openai-chat", base_url: server.url, model: "fake-coder", timeout_seconds: 5 },
        concurrency: { proposals: 4, evaluations: 2 }
      })
    )
    const full = await runCli(["--debug", "run", "initial_program.mjs", "dump_evaluator.mjs", "--config", "rel.yaml", "--db", ws.db], {
      cwd: ws.dir,
      env,
      timeoutMs: 5 * 60_000
    })
    outputs.push(["run --debug", full])
    check(result, "full run completes", full.code === 0, `${full.code}: ${full.stderr.slice(-500)}`)
    check(result, "the key reached the LLM server (the run really used it)", server.requests.some((r) => r.headers.authorization === `Bearer ${KEY}`))

    // A crash mid-run, then resume.
    const crashDb = join(ws.dir, "crash.db")
    const proc = startCli(["run", "initial_program.mjs", "dump_evaluator.mjs", "--config", "rel.yaml", "--db", crashDb], {
      cwd: ws.dir,
      env,
      timeoutMs: 5 * 60_000
    })
    await waitFor(() => {
      try {
        return committedEvaluations(crashDb) >= 5
      } catch {
        return false
      }
    }, 60_000)
    process.kill(proc.pid, "SIGKILL")
    outputs.push(["run (killed)", await proc.done])
    await sleep(300)
    const resumed = await runCli(["resume", "--db", crashDb], { cwd: ws.dir, env, timeoutMs: 5 * 60_000 })
    outputs.push(["resume", resumed])
    check(result, "resume after the crash completes", resumed.code === 0, `${resumed.code}: ${resumed.stderr.slice(-500)}`)
  } finally {
    await server.close()
  }

  // A server that echoes the key in its error bodies and headers.
  const echo = await echoServer()
  try {
    const echoDb = join(ws.dir, "echo.db")
    writeFileSync(
      join(ws.dir, "echo.yaml"),
      configFile({
        max_evaluations: 10,
        max_consecutive_proposal_failures: 6,
        llm: { provider: "openai-chat", base_url: echo.url, model: "fake-coder", timeout_seconds: 5, max_retries: 1 },
        concurrency: { proposals: 2, evaluations: 1 }
      })
    )
    // The preflight meets the failing server first: one line, exit 2, and the echoed key nowhere.
    const preflight = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--config", "echo.yaml", "--db", echoDb], {
      cwd: ws.dir,
      env,
      timeoutMs: 2 * 60_000
    })
    outputs.push(["preflight against a key-echoing server", preflight])
    check(result, "the LLM preflight stops a run whose server fails every call (exit 2)", preflight.code === 2, `${preflight.code}: ${(preflight.stdout + preflight.stderr).slice(-400)}`)
    // Past the preflight, the run itself meets the failing server.
    const r = await runCli(["--debug", "run", "initial_program.mjs", "evaluator.mjs", "--config", "echo.yaml", "--db", echoDb, "--no-preflight"], {
      cwd: ws.dir,
      env,
      timeoutMs: 2 * 60_000
    })
    outputs.push(["run against a key-echoing server", r])
    check(result, "a run whose LLM server always fails stops with a clear message (exit 1)", r.code === 1, `${r.code}: ${(r.stdout + r.stderr).slice(-400)}`)
    const messages = query<{ m: string }>(echoDb, "SELECT error_message AS m FROM llm_calls WHERE error_message IS NOT NULL LIMIT 1")
    result.figures["LLM error recorded (key-echoing server)"] = (messages[0]?.m ?? "(none)").slice(0, 160)
  } finally {
    await echo.close()
  }

  // Inspection and export.
  const best = join(ws.dir, "exported_best.mjs")
  outputs.push(["best -o", await runCli(["best", "--db", ws.db, "-o", best], { cwd: ws.dir, env, timeoutMs: 60_000 })])
  outputs.push(["ls", await runCli(["ls", "--db", ws.db], { cwd: ws.dir, env, timeoutMs: 60_000 })])
  const runId = query<{ id: string }>(ws.db, "SELECT id FROM runs LIMIT 1")[0]?.id ?? "run_none"
  outputs.push(["show run", await runCli(["show", runId, "--db", ws.db], { cwd: ws.dir, env, timeoutMs: 60_000 })])
  const failedProgram = query<{ id: string }>(join(ws.dir, "echo.db"), "SELECT id FROM programs WHERE status = 'failed' LIMIT 1")[0]?.id
  if (failedProgram) outputs.push(["show failed program", await runCli(["show", failedProgram, "--db", join(ws.dir, "echo.db")], { cwd: ws.dir, env, timeoutMs: 60_000 })])

  // Where could a secret have gone? Everything under the workspace: databases (+ -wal/-shm),
  // evaluator environment dumps, the exported program, evolve's temp dirs; plus every output.
  for (const [label, secret] of [["API key", KEY], ["service token", TOKEN]] as const) {
    const files = filesContaining(ws.dir, secret).map((f) => f.slice(ws.dir.length + 1))
    // The configs we wrote do not contain the secrets; any hit is a leak.
    result.attempts++
    const clean = files.length === 0
    if (clean) result.survived++
    check(result, `${label}: in no file (databases, WAL, exports, evaluator env dumps, temp dirs)`, clean, files.join(", "))
    for (const [what, r] of outputs) {
      result.attempts++
      const text = r.stdout + r.stderr
      const leaked = text.includes(secret)
      if (!leaked) result.survived++
      // Where it leaked: the line, with the secret masked.
      const line = leaked ? text.split("\n").find((l) => l.includes(secret))!.replaceAll(secret, "<SECRET>") : ""
      const at = line.indexOf("<SECRET>")
      check(result, `${label}: not in the output of \`${what}\``, !leaked, leaked ? `…${line.slice(Math.max(0, at - 200), at + 100)}…` : "")
    }
  }
  const dumpFiles = readdirSync(dumps)
  check(result, "the evaluator environment was captured", dumpFiles.length > 0, `${dumpFiles.length} dumps`)
  const names = new Set<string>()
  for (const f of dumpFiles) {
    try {
      const { env: e } = JSON.parse(readFileSync(join(dumps, f), "utf8")) as { env: Record<string, string> }
      for (const k of Object.keys(e)) names.add(k)
    } catch {
      // a dump cut short by a kill
    }
  }
  result.figures["variables an evaluator sees"] = [...names].sort().join(" ")
  result.figures["outputs checked"] = outputs.map(([w]) => w).join(", ")
  result.lost = result.attempts - result.survived
  return result
}
