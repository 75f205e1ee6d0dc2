/**
 * The service scenarios (`evolve serve`):
 *
 * - 3c kill -9 of the service at random moments while it hosts a run; each restart must resume
 *   the run; at the end the same invariants as scenario 3 hold.
 * - 4b 1,000 generated malformed requests each get a 4xx and the server keeps serving; the
 *   body cap is enforced (with and without Content-Length).
 * - 4c a port in use: `evolve serve` exits with code 2 naming the port.
 * - 6 load: concurrent runs × P against the fake server; all progress, the server's RSS stays
 *   flat after warm-up (< 10% growth from the first 5 samples after warm-up to the last 5; the
 *   warm-up is the first half, while V8 sizes its heap: ~165 → ~215 MB with the service's heap
 *   growth limit), SSE clients that disconnect and reconnect with Last-Event-ID miss no stored
 *   event; neither secret appears in responses, SSE or the database.
 *
 * When `evolve serve` is not a command yet, each is a PENDING row ("not available yet").
 */
import { createServer } from "node:net"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  analyzeEvaluationLog,
  check,
  committedEvaluations,
  committedRows,
  type CommittedRow,
  countingEvaluator,
  filesContaining,
  integrityCheck,
  killMatching,
  looksLikeStackTrace,
  lostOrChanged,
  newResult,
  query,
  rng,
  runCli,
  type ScenarioResult,
  sleep,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"
import { type Reply, send, sse, type SseSession, startService, stopService } from "../serveClient.js"

const KEY = "sk-reliability-SECRET-service-55aa11bb"
const TOKEN = "evolve-token-reliability-SECRET-service-77cc"

export const serveAvailable = async (): Promise<boolean> => {
  const ws = workspace("serve-probe")
  const r = await runCli(["serve", "--help"], { cwd: ws.dir, timeoutMs: 30_000 })
  return r.code === 0 && /serve/.test(r.stdout)
}

const pending = (id: string, title: string, why: string) => {
  const r = newResult(id, title)
  r.verdict = "PENDING"
  r.notes.push(why)
  return r
}

const json = (value: unknown) => JSON.stringify(value)
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }

// ---- 4b: malformed requests ---------------------------------------------------------------------

interface Malformed {
  readonly what: string
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

const malformedRequests = (count: number, seed: number, dir: string): Array<Malformed> => {
  const r = rng(seed)
  const pick = <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(r() * xs.length)]!
  const junk = () => {
    const n = Math.floor(r() * 40)
    let s = ""
    for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(r() * 0x2ff))
    return s
  }
  const id = () => pick(["run_", "p_", "", "../", "%2e%2e/", "run_0", "'; DROP TABLE runs; --"]) + Math.floor(r() * 1e9).toString(36)
  const program = join(dir, "initial_program.mjs")
  const evaluator = join(dir, "evaluator.mjs")
  const bodies: ReadonlyArray<() => string> = [
    () => "{",
    () => "[]",
    () => "null",
    () => "\"just a string\"",
    () => "12",
    () => json({ program: 1, evaluator: true }),
    () => json({ program: "", evaluator: "" }),
    () => json({ program: "/nonexistent/p.mjs", evaluator: "/nonexistent/e.mjs" }),
    () => json({ program, evaluator, config: { max_evaluations: -1 } }),
    () => json({ program, evaluator, config: { concurrency: { evaluations: 0 } } }),
    () => json({ program, evaluator, config: { bogus_key: 1 } }),
    () => json({ program, evaluator, config: { llm: { provider: "nope" } } }),
    () => json({ program, evaluator, config_yaml: "concurrency: [1, 2\n" }),
    () => json({ program, evaluator, config_yaml: "- a\n- b\n" }),
    () => json({ program, evaluator, extra: "field" }),
    () => json({ program: junk(), evaluator: junk() }),
    () => json({ program: program + "\u0000", evaluator }),
    () => json({ program: dir, evaluator: dir }),
    () => "[".repeat(5000) + "]".repeat(5000),
    () => json({ program: "x".repeat(100_000), evaluator }),
    () => junk()
  ]
  const kinds: ReadonlyArray<() => Malformed> = [
    () => ({ what: "POST /api/runs with an invalid body", method: "POST", path: "/api/runs", headers: auth, body: pick(bodies)() }),
    () => ({ what: "POST /api/runs as text/plain", method: "POST", path: "/api/runs", headers: { ...auth, "content-type": "text/plain" }, body: "program=x" }),
    () => ({ what: "GET an unknown run", method: "GET", path: `/api/runs/${encodeURIComponent(id())}`, headers: auth }),
    () => ({ what: "control an unknown run", method: "POST", path: `/api/runs/${encodeURIComponent(id())}/${pick(["pause", "resume", "stop"])}`, headers: auth }),
    () => ({ what: "bad query parameters", method: "GET", path: `/api/runs/${encodeURIComponent(id())}/programs?limit=${pick(["abc", "-1", "0", "1e99"])}&sort=${pick(["x", "score"])}`, headers: auth }),
    () => ({ what: "GET an unknown program", method: "GET", path: `/api/programs/${encodeURIComponent(id())}${pick(["", "/lineage"])}`, headers: auth }),
    () => ({ what: "bad lastEventId", method: "GET", path: `/api/runs/${encodeURIComponent(id())}/events?lastEventId=${pick(["abc", "-5", "1.5"])}`, headers: auth }),
    () => ({ what: "unknown route", method: pick(["GET", "POST"]), path: pick(["/api/nope", "/../../etc/passwd", "/api/runs/%ff", "/%00", "/api/runs/x/y/z"]), headers: auth }),
    () => ({ what: "unsupported method", method: pick(["DELETE", "PUT", "PATCH"]), path: pick(["/api/runs", `/api/runs/${encodeURIComponent(id())}`]), headers: auth, body: "{}" }),
    () => ({ what: "foreign Host header (DNS rebinding)", method: "GET", path: "/api/runs", headers: { ...auth, host: pick(["evil.example", "example.com:80", "10.0.0.1"]) } }),
    () => ({ what: "cross-origin request", method: "POST", path: "/api/runs", headers: { ...auth, origin: "http://evil.example" }, body: "{}" }),
    () => ({ what: "wrong bearer token", method: "GET", path: "/api/runs", headers: { authorization: pick(["Bearer nope", "Basic abc", "Bearer "]) } }),
    () => ({ what: "no token", method: "GET", path: "/api/runs" })
  ]
  return Array.from({ length: count }, () => pick(kinds)())
}

const malformed = async (options: Options, ws: ReturnType<typeof workspace>): Promise<ScenarioResult> => {
  const result = newResult("4b", "Service: 1,000 malformed requests, body cap")
  const service = await startService(["--db", join(ws.dir, "serve-malformed.db")], {
    cwd: ws.dir,
    env: { EVOLVE_TOKEN: TOKEN, OPENAI_API_KEY: KEY },
    timeoutMs: 10 * 60_000
  })
  if ("error" in service) {
    check(result, "the service starts", false, service.error)
    return result
  }
  try {
    // Wrong tokens go last: past the failed-login limit the server refuses this client's tokens
    // (429) for a while, and the other malformed requests must reach their own checks.
    const generated = malformedRequests(1000, options.seed, ws.dir)
    const wrongToken = (m: Malformed) => m.what === "wrong bearer token"
    const requests = [...generated.filter((m) => !wrongToken(m)), ...generated.filter(wrongToken)]
    const bad: Array<string> = []
    const byKind = new Map<string, Map<number, number>>()
    let next = 0
    let skipped = 0
    const worker = async () => {
      while (next < requests.length) {
        const m = requests[next++]!
        const reply = await send(service.url, { method: m.method, path: m.path, headers: m.headers ?? {}, ...(m.body !== undefined ? { body: m.body } : {}) })
        if (reply.status === -1) {
          skipped++ // Node's client refused to send it (not the server's doing)
          continue
        }
        const statuses = byKind.get(m.what) ?? new Map<number, number>()
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1)
        byKind.set(m.what, statuses)
        result.attempts++
        if (reply.status >= 400 && reply.status < 500) result.survived++
        else if (bad.length < 10) {
          bad.push(`${m.method} ${m.path.slice(0, 80)} ${JSON.stringify((m.body ?? "").slice(0, 120))} → ${reply.status} ${reply.error ?? reply.body.slice(0, 160)}`)
        }
        if (reply.body.includes(TOKEN) || reply.body.includes(KEY)) bad.push(`${m.method} ${m.path} echoed a secret`)
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    result.lost = result.attempts - result.survived
    if (skipped > 0) result.notes.push(`${skipped} generated requests were refused by Node's HTTP client and not sent`)
    check(result, "every malformed request gets a 4xx", result.lost === 0, bad.join("\n"))
    for (const [what, statuses] of byKind) {
      result.figures[what] = [...statuses].map(([s, n]) => `${s}×${n}`).join(" ")
    }
    // Locked out by the wrong tokens: wait as long as Retry-After says (≤ 70 s).
    let alive = await send(service.url, { method: "GET", path: "/api/runs", headers: auth })
    const lockedAt = Date.now()
    const locked = alive.status === 429
    while (alive.status === 429 && Date.now() - lockedAt < 70_000) {
      await sleep(Math.min(10, Number(alive.headers?.["retry-after"] ?? "1")) * 1000)
      alive = await send(service.url, { method: "GET", path: "/api/runs", headers: auth })
    }
    if (locked) {
      result.figures["locked out by the failed-login limit for"] = `${((Date.now() - lockedAt) / 1000).toFixed(0)} s`
    }
    check(result, "the server keeps serving (GET /api/runs → 200)", alive.status === 200, `${alive.status} ${alive.error ?? ""}`)

    const big = json({ program: "x".repeat(2 * 1024 * 1024), evaluator: "y" })
    const capped = await send(service.url, { method: "POST", path: "/api/runs", headers: auth, body: big })
    check(result, "a 2 MB body with Content-Length → 413", capped.status === 413, `${capped.status} ${capped.error ?? capped.body.slice(0, 200)}`)
    const chunked = await send(service.url, { method: "POST", path: "/api/runs", headers: auth, body: big, chunked: true })
    // Refused either way: a 413, or the connection closed before the whole body was taken.
    const refused = chunked.status === 413 || (chunked.status === 0 && /ECONNRESET|EPIPE|socket hang up/.test(chunked.error ?? ""))
    check(result, "a 2 MB chunked body (no Content-Length) is refused", refused, `${chunked.status} ${chunked.error ?? chunked.body.slice(0, 200)}`)
    result.figures["2 MB chunked body"] = chunked.status === 413 ? "413" : `connection reset without a response (${chunked.error ?? ""})`
    const after = await send(service.url, { method: "GET", path: "/api/runs", headers: auth })
    check(result, "the server keeps serving after the oversized bodies", after.status === 200, `${after.status}`)
    const runs = JSON.parse(after.body || "[]") as Array<unknown>
    check(result, "no malformed request created a run", Array.isArray(runs) && runs.length === 0, `${Array.isArray(runs) ? runs.length : after.body.slice(0, 200)} runs`)
  } finally {
    const r = await stopService(service)
    check(result, "the service stops on SIGTERM (exit 0 or 130)", r.code === 0 || r.code === 130, `exit ${r.code}/${r.signal}`)
    check(result, "no stack trace in the service's output", !looksLikeStackTrace(r.stderr), r.stderr.slice(-800))
    check(result, "no secret in the service's output", !(r.stdout + r.stderr).includes(TOKEN) && !(r.stdout + r.stderr).includes(KEY))
  }
  return result
}

// ---- 4c: port in use ------------------------------------------------------------------------------

const portInUse = async (ws: ReturnType<typeof workspace>): Promise<ScenarioResult> => {
  const result = newResult("4c", "Service: port in use → exit 2")
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()))
  const address = blocker.address()
  const port = typeof address === "object" && address ? address.port : 0
  try {
    const r = await runCli(["serve", "--port", String(port), "--db", join(ws.dir, "port.db")], { cwd: ws.dir, timeoutMs: 30_000 })
    const out = r.stdout + r.stderr
    result.attempts = 1
    const ok = r.code === 2 && out.includes(String(port)) && !looksLikeStackTrace(out)
    result.survived = ok ? 1 : 0
    result.lost = 0
    check(result, "exit 2 with a message naming the port, no stack trace", ok, `exit ${r.timedOut ? "— (still running: killed)" : r.code}: ${out.trim().slice(0, 300)}`)
    const bad = await runCli(["serve", "--port", "70000", "--db", join(ws.dir, "port.db")], { cwd: ws.dir, timeoutMs: 30_000 })
    check(result, "--port 70000 → exit 2", bad.code === 2 && !looksLikeStackTrace(bad.stderr), `${bad.code}: ${bad.stderr.slice(0, 200)}`)
    const exposed = await runCli(["serve", "--host", "0.0.0.0", "--port", "0", "--db", join(ws.dir, "port.db")], { cwd: ws.dir, timeoutMs: 30_000 })
    check(result, "--host 0.0.0.0 without a token → exit 2", exposed.code === 2 && /token/i.test(exposed.stderr), `${exposed.code}: ${exposed.stderr.slice(0, 200)}`)
  } finally {
    blocker.close()
  }
  return result
}

// ---- 3c: kill -9 of the service -----------------------------------------------------------------

/** `nodejs_heap_size_used_bytes` from the server's /metrics, in MB (NaN when unavailable). */
const heapUsedMb = async (url: string): Promise<number> => {
  try {
    const text = await (await fetch(`${url}/metrics`, { headers: auth })).text()
    return Number(/^nodejs_heap_size_used_bytes (\d+)$/m.exec(text)?.[1]) / 1024 / 1024
  } catch {
    return Number.NaN
  }
}

const runStatus = async (url: string, runId: string) => {
  const r = await send(url, { method: "GET", path: `/api/runs/${runId}`, headers: auth })
  try {
    return r.status === 200 ? (JSON.parse(r.body) as { status: string; evaluated: number }) : undefined
  } catch {
    return undefined
  }
}

const serviceCrash = async (options: Options, ws: ReturnType<typeof workspace>): Promise<ScenarioResult> => {
  const kills = options.quick ? 2 : 6
  const target = options.quick ? 40 : 120
  const result = newResult("3c", `Crash and resume of the service (kill -9 × ${kills})`)
  const db = join(ws.dir, "serve-crash.db")
  const log = join(ws.dir, "serve-evaluated.log")
  writeFileSync(join(ws.dir, "serve_counting_evaluator.mjs"), countingEvaluator(log))
  const env = { EVOLVE_TOKEN: TOKEN }
  const random = rng(options.seed + 3)
  const snapshot = new Map<string, CommittedRow>()
  const problems: Array<string> = []
  let runId = ""
  let killed = 0
  for (let session = 0; session <= kills; session++) {
    const service = await startService(["--db", db, "--eval-concurrency", "3", "--llm-concurrency", "4"], { cwd: ws.dir, env, timeoutMs: 10 * 60_000 })
    if ("error" in service) {
      problems.push(`session ${session + 1}: ${service.error}`)
      break
    }
    if (session === 0) {
      const created = await send(service.url, {
        method: "POST",
        path: "/api/runs",
        headers: auth,
        body: json({
          program: join(ws.dir, "initial_program.mjs"),
          evaluator: join(ws.dir, "serve_counting_evaluator.mjs"),
          config: { max_evaluations: target, llm: { provider: "offline" }, concurrency: { proposals: 3, evaluations: 3 } }
        })
      })
      try {
        runId = (JSON.parse(created.body) as { id: string }).id
      } catch {
        problems.push(`create run: ${created.status} ${created.body.slice(0, 300)}`)
      }
      if (runId === "") {
        await stopService(service)
        break
      }
    }
    if (session === kills) {
      // Last session: let the run finish (≤ 5 min).
      const deadline = Date.now() + 5 * 60_000
      let status: { status: string; evaluated: number } | undefined
      while (Date.now() < deadline) {
        status = await runStatus(service.url, runId)
        if (status?.status === "completed" || status?.status === "failed") break
        await sleep(500)
      }
      check(result, "the service resumes the run after the last restart and completes it", status?.status === "completed", JSON.stringify(status))
      await stopService(service)
      break
    }
    await sleep(Math.round(500 + random() * 3000))
    const before = (() => {
      try {
        return committedRows(db)
      } catch {
        return new Map<string, CommittedRow>()
      }
    })()
    process.kill(service.proc.pid, "SIGKILL")
    await service.proc.done
    killed++
    for (const [id, row] of before) if (!snapshot.has(id)) snapshot.set(id, row)
    await sleep(1500)
    killMatching([ws.tmp])
    const verdict = integrityCheck(db)
    if (verdict !== "ok") problems.push(`after kill ${killed}: integrity ${verdict}`)
    problems.push(...lostOrChanged(snapshot, committedRows(db)).map((s) => `after kill ${killed}: ${s}`))
  }
  result.attempts = killed
  check(result, "no problem after any kill (integrity ok, nothing committed lost)", problems.length === 0, problems.slice(0, 10).join("\n"))
  if (runId !== "") {
    const lost = lostOrChanged(snapshot, committedRows(db))
    result.lost = lost.length
    check(result, "no committed result lost or changed", lost.length === 0, lost.slice(0, 10).join("\n"))
    const evaluations = committedEvaluations(db)
    check(result, `evaluations committed = ${target}`, evaluations === target, `${evaluations}`)
    const a = analyzeEvaluationLog(db, log)
    check(result, "no candidate evaluated again after its result was committed", a.afterCommit === 0, a.violations.slice(0, 5).join("\n"))
    check(result, "no code hash appears twice among committed results", a.duplicateCommits === 0, `${a.duplicateCommits}`)
    check(result, "PRAGMA integrity_check = ok", integrityCheck(db) === "ok")
    result.figures["re-evaluated after a kill (in flight, never committed)"] = a.inFlightAgain
    result.figures["secret in the database"] = filesContaining(ws.dir, TOKEN).filter((f) => f.includes("serve-crash")).join(", ") || "no"
  }
  result.survived = result.verdict === "FAIL" ? 0 : killed
  return result
}

// ---- 6: load ------------------------------------------------------------------------------------------

const rssKb = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0)
  } catch {
    return 0
  }
}

const load = async (options: Options, ws: ReturnType<typeof workspace>): Promise<ScenarioResult> => {
  const runsN = options.quick ? 3 : 10
  const p = options.quick ? 4 : 16
  const seconds = options.quick ? 30 : 240
  const result = newResult("6", `Load: ${runsN} runs × P=${p} for ${seconds} s, RSS, SSE replay`)
  const fake = await startFakeOpenAiServer({ latency: { meanMs: 150, jitterMs: 100 }, seed: 61, requireApiKey: KEY })
  const db = join(ws.dir, "serve-load.db")
  const service = await startService(["--db", db, "--llm-concurrency", String(runsN * p), "--eval-concurrency", "4"], {
    cwd: ws.dir,
    env: { EVOLVE_TOKEN: TOKEN, OPENAI_API_KEY: KEY },
    timeoutMs: 15 * 60_000
  })
  if ("error" in service) {
    await fake.close()
    check(result, "the service starts", false, service.error)
    return result
  }
  const sessions: Array<SseSession> = []
  const responses: Array<Reply> = []
  let following = false
  try {
    const runIds: Array<string> = []
    for (let i = 0; i < runsN; i++) {
      const created = await send(service.url, {
        method: "POST",
        path: "/api/runs",
        headers: auth,
        body: json({
          program: join(ws.dir, "initial_program.mjs"),
          evaluator: join(ws.dir, "evaluator.mjs"),
          config: {
            max_evaluations: 1_000_000,
            seed: i,
            llm: { provider: "openai-chat", base_url: fake.url, model: "fake-coder", timeout_seconds: 10 },
            concurrency: { proposals: p, evaluations: 2 }
          }
        })
      })
      responses.push(created)
      try {
        runIds.push((JSON.parse(created.body) as { id: string }).id)
      } catch {
        check(result, `run ${i + 1} created`, false, `${created.status} ${created.body.slice(0, 300)}`)
      }
    }
    result.attempts = runIds.length
    // SSE followers on up to 3 runs: they disconnect and reconnect with Last-Event-ID.
    const followed = runIds.slice(0, 3)
    const received = new Map<string, Array<number>>(followed.map((id) => [id, []]))
    following = true
    const random = rng(options.seed + 6)
    const followers = followed.map(async (id) => {
      let last: number | undefined
      while (following) {
        const s = sse(service.url, id, last, { authorization: `Bearer ${TOKEN}` })
        sessions.push(s)
        await Promise.race([sleep(1000 + random() * 5000), s.ended])
        s.close()
        await sleep(200) // bounded reconnect rate, even when the server refuses at once
        received.get(id)!.push(...s.ids)
        if (s.ids.length > 0) last = s.ids[s.ids.length - 1]
      }
      return last
    })
    const samples: Array<number> = []
    const heapSamples: Array<number> = []
    const progressAt = new Map<string, number>()
    const started = Date.now()
    const warmup = seconds * 1000 / 2
    let warmed = false
    while (Date.now() - started < seconds * 1000) {
      await sleep(2000)
      samples.push(rssKb(service.proc.pid))
      heapSamples.push(await heapUsedMb(service.url))
      if (!warmed && Date.now() - started >= warmup) {
        warmed = true
        for (const id of runIds) progressAt.set(id, (await runStatus(service.url, id))?.evaluated ?? 0)
      }
    }
    const stalled: Array<string> = []
    for (const id of runIds) {
      const now = (await runStatus(service.url, id))?.evaluated ?? 0
      if (now <= (progressAt.get(id) ?? 0)) stalled.push(`${id}: ${progressAt.get(id)} → ${now}`)
    }
    result.survived = runIds.length - stalled.length
    result.lost = 0
    check(result, "every run progresses after warm-up", stalled.length === 0, stalled.join("\n"))
    const after = samples.slice(Math.floor(samples.length / 2))
    const head = after.slice(0, 5)
    const tail = after.slice(-5)
    const mean = (xs: Array<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    const growth = mean(head) > 0 ? (mean(tail) - mean(head)) / mean(head) : 0
    if (options.quick) {
      result.notes.push("quick pass: too short for a steady state, RSS growth is reported, not checked")
    } else {
      check(result, "server RSS grows < 10% after warm-up", growth < 0.1, `${(growth * 100).toFixed(1)}%`)
    }
    result.figures["server RSS (MB) samples"] = samples.map((s) => (s / 1024).toFixed(0)).join(" ")
    result.figures["RSS growth after warm-up"] = `${(growth * 100).toFixed(1)}%`
    // Context for the RSS figure: V8's heap in use (live data plus garbage not yet collected).
    result.figures["server V8 heap used (MB) samples"] = heapSamples.map((h) => h.toFixed(0)).join(" ")
    // Stop every run, then collect what the followers missed.
    for (const id of runIds) responses.push(await send(service.url, { method: "POST", path: `/api/runs/${id}/stop`, headers: auth }))
    following = false
    const lasts = await Promise.all(followers)
    await sleep(1500)
    for (const [i, id] of followed.entries()) {
      const stored = query<{ seq: number }>(db, "SELECT seq FROM run_events WHERE run_id = ? ORDER BY seq", id).map((r) => r.seq)
      const final = sse(service.url, id, lasts[i], { authorization: `Bearer ${TOKEN}` })
      sessions.push(final)
      await Promise.race([sleep(5000), final.ended])
      final.close()
      const got = new Set([...received.get(id)!, ...final.ids])
      const missed = stored.filter((s) => !got.has(s))
      const dup = received.get(id)!.length + final.ids.length - got.size
      check(result, `SSE ${id}: no stored event missed across reconnects`, missed.length === 0, `${missed.length} of ${stored.length} missed (first: ${missed.slice(0, 5).join(", ")})`)
      result.figures[`SSE ${id}`] = `${stored.length} stored, ${got.size} received, ${dup} duplicates`
    }
    const evaluated = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM programs WHERE status <> 'pending'")[0]!.n
    result.figures["candidates finished in total"] = evaluated
    result.figures["LLM requests"] = fake.requests.length
  } finally {
    following = false
    for (const s of sessions) s.close()
    const r = await stopService(service)
    await fake.close()
    const everything = r.stdout + r.stderr + sessions.map((s) => s.text).join("") + responses.map((x) => x.body).join("")
    check(result, "no secret in responses, SSE streams or the service's output", !everything.includes(KEY) && !everything.includes(TOKEN))
    const files = [...filesContaining(ws.dir, KEY), ...filesContaining(ws.dir, TOKEN)]
    check(result, "no secret in the database or any other file", files.length === 0, files.join(", "))
    check(result, "the service stops on SIGTERM", r.code === 0 || r.code === 130, `exit ${r.code}/${r.signal}`)
  }
  return result
}

export const service = async (options: Options): Promise<Array<ScenarioResult>> => {
  if (!(await serveAvailable())) {
    const why = "`evolve serve` is not a command of the CLI yet"
    return [
      pending("3c", "Crash and resume of the service (kill -9)", why),
      pending("4b", "Service: 1,000 malformed requests, body cap", why),
      pending("4c", "Service: port in use → exit 2", why),
      pending("6", "Load: runs × P against the fake server, RSS flat, SSE replay", why)
    ]
  }
  const ws = workspace("service")
  return [
    await serviceCrash(options, ws),
    await malformed(options, ws),
    await portInUse(ws),
    await load(options, ws)
  ]
}
