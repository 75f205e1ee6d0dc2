/**
 * Scenario 1 — orchestration efficiency: achieved evaluations per second divided by the ideal
 * min(P / LLM latency, W / evaluation time), for the real CLI against the fake OpenAI server
 * over loopback.
 *
 * Method: the evaluator is `sh evaluator.sh` sleeping a fixed time; its own cost (spawn to
 * exit, measured bare right before the run) is the evaluation time in the ideal, so everything
 * evolve adds around it (temp dir, pipes, process group, commit) counts against evolve. The LLM
 * latency in the ideal is the fake server's configured mean (uniform jitter around it).
 * Completion times are the `evaluated_at` stamps of the run's database.
 * - steady: completions between the 20th and 80th percentile over the time they span;
 * - whole run: all evaluations (initial program included) over spawn-to-exit wall time.
 * Runs are sized for a number of seconds at the ideal rate, with a wall-clock limit in case
 * evolve falls far short of it. `EVOLVE_BENCH_CASES=p8w8_40,p8w8` runs only the named cases.
 */
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { expectSuccess, runArgs, runEvolve } from "../evolveCli.js"
import { makeWorkspace, uniqueVariantResponder } from "../fixtures.js"
import { atLeast, type Figure, figure, log, runScenario, type Target } from "../protocol.js"
import { readProgramTimes } from "../runDb.js"
import { timeCommand } from "../spawnTimer.js"
import { distribution, mean, round, steadyRate } from "../stats.js"

interface Case {
  readonly id: string
  readonly proposals: number
  readonly evaluations: number
  readonly llmMs: number
  readonly jitterMs: number
  readonly evalMs: number
  readonly iterations: number
  /** Wall-clock limit (`--max-seconds`) so that a slow evolve cannot stretch the suite. */
  readonly maxSeconds?: number
  readonly report: { readonly steady?: Target | "info"; readonly whole?: Target | "info" }
}

/** Enough evaluations for `seconds` at the ideal rate, and at most twice that long plus 10 s. */
const sized = (c: Omit<Case, "iterations" | "maxSeconds">, seconds: number): Case => {
  const ideal = Math.min(c.proposals / (c.llmMs / 1000), c.evaluations / (c.evalMs / 1000))
  return { ...c, iterations: Math.round(ideal * seconds), maxSeconds: 2 * seconds + 10 }
}

const p8w8 = { proposals: 8, evaluations: 8, llmMs: 1000, jitterMs: 200, evalMs: 100 }

const fullCases: ReadonlyArray<Case> = [
  { id: "p8w8_40", ...p8w8, iterations: 40, report: { whole: atLeast(0.9) } },
  sized({ id: "p8w8", ...p8w8, report: { steady: atLeast(0.97) } }, 30),
  sized({ id: "p8w8_eval1s", ...p8w8, evalMs: 1000, report: { steady: atLeast(0.97) } }, 15),
  sized({
    id: "p64w64",
    proposals: 64,
    evaluations: 64,
    llmMs: 200,
    jitterMs: 40,
    evalMs: 20,
    report: { steady: "info", whole: "info" }
  }, 8),
  sized({
    id: "p256w16",
    proposals: 256,
    evaluations: 16,
    llmMs: 1000,
    jitterMs: 200,
    evalMs: 50,
    report: { steady: atLeast(0.95), whole: "info" }
  }, 10)
]

/** Same shapes, short latencies and few evaluations: keeps the code paths working in CI. */
const quickCases: ReadonlyArray<Case> = fullCases.map((c) => ({
  ...c,
  llmMs: Math.min(c.llmMs, 100),
  jitterMs: Math.min(c.jitterMs, 20),
  evalMs: Math.min(c.evalMs, 10),
  iterations: 24,
  maxSeconds: 30
}))

const describe = (c: Case) =>
  `P=${c.proposals} W=${c.evaluations}, LLM ${c.llmMs}±${c.jitterMs} ms, eval ${c.evalMs} ms, ${c.iterations} evaluations` +
  (c.maxSeconds === undefined ? "" : ` or ${c.maxSeconds} s`)

/** Completions per second in one-second bins from spawn, for the throughput chart. */
const perSecond = (timesMs: ReadonlyArray<number>) => {
  const bins: Array<number> = []
  for (const t of timesMs) {
    const i = Math.max(0, Math.floor(t / 1000))
    while (bins.length <= i) bins.push(0)
    bins[i]!++
  }
  return bins
}

const measure = async (c: Case) => {
  log(`orchestration ${c.id}: ${describe(c)}`)
  const ws = makeWorkspace(c.id, c.evalMs)
  const server = await startFakeOpenAiServer({
    latency: { meanMs: c.llmMs, jitterMs: c.jitterMs },
    seed: 1,
    responder: uniqueVariantResponder
  })
  try {
    const bare = await timeCommand("sh", [ws.evaluator, ws.program], ws.dir, c.evalMs >= 1000 ? 3 : 10)
    const evalMs = mean(bare)
    const args = runArgs({
      workspace: ws,
      baseUrl: server.url,
      iterations: c.iterations,
      proposals: c.proposals,
      evaluations: c.evaluations
    })
    const limit = c.maxSeconds === undefined ? [] : ["--max-seconds", String(c.maxSeconds)]
    const run = expectSuccess(await runEvolve([...args, ...limit], { cwd: ws.dir }), c.id)
    const programs = await readProgramTimes(ws.db)
    const evaluated = programs.filter((p) => p.evaluatedAt !== null)
    const completions = evaluated.map((p) => p.evaluatedAt! - run.spawnedAtEpoch).sort((a, b) => a - b)
    const requests = server.requests.map((r) => r.at - run.spawnedAt)
    const llmBound = c.proposals / (c.llmMs / 1000)
    const ideal = Math.min(llmBound, c.evaluations / (evalMs / 1000))
    const steadyPerSecond = steadyRate(completions)
    const whole = (completions.length * 1000) / run.wallMs / ideal
    const result = {
      case: c,
      idealPerSecond: round(ideal, 2),
      bound: ideal === llmBound ? "llm" : "evaluation",
      evaluations: completions.length,
      steadyPerSecond: round(steadyPerSecond, 2),
      steadyEfficiency: round(steadyPerSecond / ideal),
      wholeRunEfficiency: round(whole),
      wallMs: Math.round(run.wallMs),
      firstLlmRequestMs: Math.round(requests[0] ?? Number.NaN),
      lastCompletionMs: Math.round(completions.at(-1) ?? Number.NaN),
      llmRequests: requests.length,
      llmInFlightMax: server.inFlightMax,
      /** LLM requests per second in steady state ÷ P / latency: how busy evolve keeps the LLM slots. */
      llmSlotUse: round(steadyRate(requests) / llmBound),
      bareEvaluatorMs: distribution(bare.map((x) => round(x, 2))),
      evaluatorAsSeenByEvolveMs: distribution(evaluated.map((p) => p.evalMs ?? Number.NaN)),
      llmLatencyAsSeenByEvolveMs: distribution(programs.flatMap((p) => (p.llmLatencyMs === null ? [] : [p.llmLatencyMs]))),
      /** From `created_at` (candidate stored) to the evaluator's start: time spent waiting in the queue. */
      queueWaitMs: distribution(evaluated.map((p) => p.evaluatedAt! - (p.evalMs ?? 0) - p.createdAt)),
      evolveProcess: run.probe === undefined
        ? null
        : {
          cpuMs: round(run.probe.cpuUserMs + run.probe.cpuSystemMs, 1),
          maxRssMb: round(run.probe.maxRssMb, 1),
          eventLoopDelayMs: run.probe.eventLoopDelayMs
        },
      completionsPerSecond: perSecond(completions),
      completionsMs: c.id === "p8w8" ? completions : undefined
    }
    log(
      `  ideal ${result.idealPerSecond}/s (${result.bound}-bound), steady ${result.steadyPerSecond}/s → ${result.steadyEfficiency}, whole run ${result.wholeRunEfficiency}`
    )
    return result
  } finally {
    await server.close()
    ws.remove()
  }
}

runScenario(async ({ quick }) => {
  const only = process.env["EVOLVE_BENCH_CASES"]?.split(",").filter((id) => id !== "")
  const cases = (quick ? quickCases : fullCases).filter((c) => only === undefined || only.includes(c.id))
  const results = []
  for (const c of cases) results.push(await measure(c))
  const figures: Array<Figure> = []
  for (const r of results) {
    const { steady, whole } = r.case.report
    const label = `P=${r.case.proposals} W=${r.case.evaluations}, LLM ${r.case.llmMs} ms, eval ${r.case.evalMs} ms`
    if (steady !== undefined) {
      figures.push(
        figure(`orchestration.${r.case.id}.steady`, `efficiency steady, ${label}`, r.steadyEfficiency, "ratio", steady === "info" ? undefined : steady)
      )
    }
    if (whole !== undefined) {
      figures.push(
        figure(
          `orchestration.${r.case.id}.whole`,
          `efficiency whole run (${r.evaluations} evals), ${label}`,
          r.wholeRunEfficiency,
          "ratio",
          whole === "info" ? undefined : whole
        )
      )
    }
  }
  return { scenario: "orchestration", title: "Orchestration efficiency", quick, figures, details: { cases: results } }
})
