/**
 * 1. Flaky LLM: the fake server injects 30% faults of every kind (429 with and without
 * Retry-After, 500, 503, hangs past the timeout, reset connections, malformed JSON, empty
 * choices). A run of N evaluations must complete; every candidate must be accounted for
 * (evaluated, or failed/rejected with a recorded reason); the requests must stay within the
 * retry policy's bound; and the total time within a stated factor of the same run without faults.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { type FaultMode, startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  check,
  committedEvaluations,
  configFile,
  fmtMs,
  newResult,
  query,
  runCli,
  type ScenarioResult,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"

/** Total 0.30, as the issue asks: every fault the fake server can inject at the transport/HTTP level. */
export const faultMix: Readonly<Partial<Record<FaultMode, number>>> = {
  "429": 0.05,
  "429-retry-after:1": 0.05,
  "500": 0.05,
  "503": 0.05,
  hang: 0.03,
  reset: 0.03,
  malformed: 0.02,
  "empty-choices": 0.02
}

/** The stated factor: a run under 30% faults takes at most this many times the fault-free run. */
export const TIME_FACTOR = 2.5
const MAX_RETRIES = 5
const P = 8
const W = 4

interface RunFigures {
  readonly ms: number
  readonly code: number | null
  readonly requests: number
  readonly faults: Record<string, number>
  readonly output: string
}

const runOnce = async (name: string, n: number, faults: boolean, seed: number): Promise<RunFigures & { db: string }> => {
  const ws = workspace(name)
  const server = await startFakeOpenAiServer({
    latency: { meanMs: 40, jitterMs: 20 },
    seed,
    ...(faults ? { faults: { mix: faultMix } } : {})
  })
  try {
    writeFileSync(
      join(ws.dir, "rel.yaml"),
      configFile({
        max_evaluations: n,
        llm: { provider: "openai-chat", base_url: server.url, model: "fake-coder", timeout_seconds: 2, max_retries: MAX_RETRIES },
        concurrency: { proposals: P, evaluations: W },
        // the default (50) would also do; kept explicit: a run must survive bursts of failed proposals
        max_consecutive_proposal_failures: 50
      })
    )
    // --no-preflight: its probe request would not be among the attempts recorded, which this scenario counts.
    const result = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--config", "rel.yaml", "--db", ws.db, "--no-preflight"], {
      cwd: ws.dir,
      env: { OPENAI_API_KEY: "sk-flaky-test" },
      timeoutMs: 20 * 60_000
    })
    const faultsSeen: Record<string, number> = {}
    for (const r of server.requests) faultsSeen[r.fault] = (faultsSeen[r.fault] ?? 0) + 1
    return {
      db: ws.db,
      ms: result.ms,
      code: result.code,
      requests: server.requests.length,
      faults: faultsSeen,
      output: (result.stdout + result.stderr).slice(-3000)
    }
  } finally {
    await server.close()
  }
}

export const flakyLlm = async (options: Options): Promise<ScenarioResult> => {
  const n = options.quick ? 60 : 300
  const result = newResult("1", `Flaky LLM (30% faults, ${n} evaluations)`)

  // Both runs at once, so that other load on the machine (it is often shared) slows both alike.
  const [clean, flaky] = await Promise.all([runOnce("flaky-baseline", n, false, 11), runOnce("flaky", n, true, 12)])
  check(result, "fault-free baseline run completes", clean.code === 0, `exit ${clean.code}\n${clean.output}`)
  check(result, "run under 30% faults completes (exit 0)", flaky.code === 0, `exit ${flaky.code}\n${flaky.output}`)

  const db = flaky.db
  const programs = query<{ status: string; failure_kind: string | null; failure_message: string | null; n: number }>(
    db,
    "SELECT status, failure_kind, failure_message IS NOT NULL AND failure_message <> '' AS failure_message, COUNT(*) AS n FROM programs GROUP BY 1, 2, 3"
  )
  const total = programs.reduce((s, r) => s + r.n, 0)
  const accounted = programs
    .filter((r) => r.status === "evaluated" || ((r.status === "failed" || r.status === "rejected") && r.failure_kind !== null && r.failure_message))
    .reduce((s, r) => s + r.n, 0)
  const pending = programs.filter((r) => r.status === "pending").reduce((s, r) => s + r.n, 0)
  result.attempts = total
  result.survived = accounted
  result.lost = total - accounted
  check(result, "every candidate accounted for (evaluated, or failed/rejected with kind and message)", accounted === total, JSON.stringify(programs))
  check(result, "no candidate left pending", pending === 0, `${pending} pending`)
  const evaluations = committedEvaluations(db)
  check(result, `evaluations committed = ${n}`, evaluations === n, `${evaluations}`)

  // Every proposal (every program but the initial) has its LLM call recorded, failures with a reason.
  // (`n` counts every call, adaptive search's meta-notes too; `proposalCalls` those of proposals.)
  const calls = query<{ n: number; proposalCalls: number; attempts: number; maxAttempts: number; errors: number; unexplained: number }>(
    db,
    `SELECT COUNT(*) AS n, COALESCE(SUM(COALESCE(purpose, 'proposal') = 'proposal'), 0) AS proposalCalls,
      COALESCE(SUM(attempts), 0) AS attempts, COALESCE(MAX(attempts), 0) AS maxAttempts,
      SUM(outcome = 'error') AS errors,
      SUM(outcome = 'error' AND (error_message IS NULL OR error_message = '')) AS unexplained FROM llm_calls`
  )[0]!
  const proposals = query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM programs WHERE parent_id IS NOT NULL")[0]!.n
  check(result, "every proposal has its LLM call recorded", calls.proposalCalls === proposals, `${calls.proposalCalls} calls for ${proposals} proposals`)
  check(result, "every failed LLM call has a recorded reason", calls.unexplained === 0, `${calls.unexplained} without a message`)
  check(result, `attempts per call ≤ max_retries + 1 (${MAX_RETRIES + 1})`, calls.maxAttempts <= MAX_RETRIES + 1, `max ${calls.maxAttempts}`)
  // Requests in flight when the run stopped are not in llm_calls: allow P more calls' worth.
  const bound = (MAX_RETRIES + 1) * (calls.n + P)
  check(result, "requests ≤ (max_retries + 1) × (recorded calls + P)", flaky.requests <= bound, `${flaky.requests} requests, bound ${bound}`)
  const extra = flaky.requests - calls.attempts
  check(
    result,
    "requests = attempts recorded (± the P calls in flight at the stop)",
    extra >= 0 && extra <= P * (MAX_RETRIES + 1),
    `${flaky.requests} requests, ${calls.attempts} attempts recorded`
  )

  const factor = clean.ms > 0 ? flaky.ms / clean.ms : Infinity
  // A quick run is too short to amortise its few 2 s hangs and Retry-After waits (they land in the
  // last seconds as often as not), so only the full run holds the time bound.
  if (!options.quick) check(result, `time under faults ≤ ${TIME_FACTOR} × fault-free`, factor <= TIME_FACTOR, `${factor.toFixed(2)}×`)

  const failureKinds = query<{ kind: string; n: number }>(
    db,
    "SELECT failure_kind AS kind, COUNT(*) AS n FROM programs WHERE failure_kind IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
  )
  const llmErrors = query<{ kind: string; n: number }>(
    db,
    "SELECT error_kind AS kind, COUNT(*) AS n FROM llm_calls WHERE outcome = 'error' GROUP BY 1 ORDER BY 2 DESC"
  )
  const injected = Object.entries(flaky.faults).filter(([k]) => k !== "ok").reduce((s, [, v]) => s + v, 0)
  result.figures["fault-free run"] = `${fmtMs(clean.ms)} (run at the same time as the faulty one)`
  result.figures["faulty run"] = fmtMs(flaky.ms)
  result.figures["slowdown"] = `${factor.toFixed(2)}× (bound ${TIME_FACTOR}×${options.quick ? ", checked by the full run only" : ""})`
  result.figures["requests (faulty / clean)"] = `${flaky.requests} / ${clean.requests}`
  result.figures["faults injected"] = `${injected} (${((100 * injected) / Math.max(1, flaky.requests)).toFixed(0)}%): ${
    Object.entries(flaky.faults).filter(([k]) => k !== "ok").map(([k, v]) => `${k} ${v}`).join(", ")
  }`
  result.figures["LLM calls / attempts"] = `${calls.n} / ${calls.attempts} (bound ${bound} requests)`
  result.figures["candidate failures"] = failureKinds.map((r) => `${r.kind} ${r.n}`).join(", ") || "none"
  result.figures["failed LLM calls"] = llmErrors.map((r) => `${r.kind} ${r.n}`).join(", ") || "none"
  return result
}
