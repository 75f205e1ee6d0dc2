/**
 * Scenario 1 — orchestration efficiency of the real CLI against the fake OpenAI server over
 * loopback, with `sh evaluator.sh` sleeping a fixed time (its bare spawn-to-exit time, measured
 * right before the run, is the evaluation time of the ideal, so whatever evolve adds around it
 * counts against evolve). The evaluator logs each evaluation (candidate, start, end).
 * - whole run: ideal time for the evaluations done ÷ spawn-to-exit wall time;
 * - steady: the share of the binding pool's slot time in use over its steady window (LLM slots
 *   from the fake server's request log, evaluator slots from the evaluators' log).
 * Definitions in efficiency.ts. Runs are sized for a number of seconds at the ideal rate, with a
 * wall-clock limit in case evolve falls far short of it. `EVOLVE_BENCH_CASES=p8w8_40,p8w8` runs
 * only the named cases.
 */
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { analyzeRun } from "../efficiency.js"
import { readEvaluationLog, timeBareEvaluator } from "../evaluationLog.js"
import { expectSuccess, runArgs, runEvolve } from "../evolveCli.js"
import { makeWorkspace, uniqueVariantResponder } from "../fixtures.js"
import { atLeast, type Figure, figure, log, runScenario, type Target } from "../protocol.js"
import { readProgramTimes } from "../runDb.js"
import { distribution, mean, round } from "../stats.js"

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

/** The same shapes at a tenth of the latencies, 24 evaluations: keeps the code paths working in CI. */
const quickCases: ReadonlyArray<Case> = fullCases.map((c) => ({
  ...c,
  llmMs: c.llmMs / 10,
  jitterMs: c.jitterMs / 10,
  evalMs: c.evalMs / 10,
  iterations: 24,
  maxSeconds: 30
}))

const describe = (c: Case) =>
  `P=${c.proposals} W=${c.evaluations}, LLM ${c.llmMs}±${c.jitterMs} ms, eval ${c.evalMs} ms, ${c.iterations} evaluations` +
  (c.maxSeconds === undefined ? "" : ` or ${c.maxSeconds} s`)

/** Timelines of the run as evolve's database has them (queue wait, latencies); null if it cannot be read. */
const databaseView = async (db: string, spawnedAtEpoch: number) => {
  try {
    const programs = await readProgramTimes(db)
    const evaluated = programs.filter((p) => p.evaluatedAt !== null)
    return {
      evaluations: evaluated.length,
      lastCommitMs: Math.max(...evaluated.map((p) => p.evaluatedAt! - spawnedAtEpoch)),
      evaluatorAsSeenByEvolveMs: distribution(evaluated.map((p) => p.evalMs ?? Number.NaN)),
      llmLatencyAsSeenByEvolveMs: distribution(programs.flatMap((p) => (p.llmLatencyMs === null ? [] : [p.llmLatencyMs]))),
      /** From `created_at` (candidate stored) to the evaluator's start: time spent waiting in the queue. */
      queueWaitMs: distribution(evaluated.map((p) => p.evaluatedAt! - (p.evalMs ?? 0) - p.createdAt))
    }
  } catch (error) {
    return { unreadable: error instanceof Error ? error.message : String(error) }
  }
}

const measure = async (c: Case) => {
  log(`orchestration ${c.id}: ${describe(c)}`)
  const ws = makeWorkspace(c.id, c.evalMs, { logEvaluations: true })
  const server = await startFakeOpenAiServer({
    latency: { meanMs: c.llmMs, jitterMs: c.jitterMs },
    seed: 1,
    responder: uniqueVariantResponder
  })
  try {
    const bare = await timeBareEvaluator("sh", [ws.evaluator, ws.program], ws.dir, c.evalMs >= 1000 ? 3 : 10, ws.evaluationLog)
    const args = runArgs({
      workspace: ws,
      baseUrl: server.url,
      iterations: c.iterations,
      proposals: c.proposals,
      evaluations: c.evaluations
    })
    const limit = c.maxSeconds === undefined ? [] : ["--max-seconds", String(c.maxSeconds)]
    const run = expectSuccess(await runEvolve([...args, ...limit], { cwd: ws.dir }), c.id)
    const analysis = analyzeRun(
      { proposals: c.proposals, evaluations: c.evaluations, llmMs: c.llmMs, evalMs: mean(bare.wallMs) },
      {
        requests: server.requests,
        evaluations: readEvaluationLog(ws.evaluationLog),
        evaluatorBeforeLogMs: bare.beforeLogMs,
        evaluatorAfterLogMs: bare.afterLogMs,
        spawnedAt: run.spawnedAt,
        wallMs: run.wallMs
      }
    )
    const { completionsMs, ...rest } = analysis
    const result = {
      case: c,
      ...rest,
      completionsMs: c.id === "p8w8" ? completionsMs : undefined,
      llmInFlightMax: server.inFlightMax,
      bareEvaluatorMs: distribution(bare.wallMs.map((x) => round(x, 2))),
      bareEvaluatorOutsideLogMs: { before: round(bare.beforeLogMs, 2), after: round(bare.afterLogMs, 2) },
      database: await databaseView(ws.db, run.spawnedAtEpoch),
      evolveProcess: run.probe === undefined
        ? null
        : {
          cpuMs: round(run.probe.cpuUserMs + run.probe.cpuSystemMs, 1),
          maxRssMb: round(run.probe.maxRssMb, 1),
          eventLoopDelayMs: run.probe.eventLoopDelayMs
        }
    }
    const shares = result.pools.map((p) => `${p.pool} ${p.share ?? "—"}`).join(", ")
    log(
      `  ideal ${result.idealPerSecond}/s (${result.bound}-bound), steady ${result.steadyEfficiency ?? "—"} (slot use: ${shares}), whole run ${result.wholeRunEfficiency}`
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
        figure(
          `orchestration.${r.case.id}.steady`,
          `efficiency steady (${r.bound} slot use), ${label}`,
          r.steadyEfficiency,
          "ratio",
          steady === "info" ? undefined : steady,
          r.steadyEfficiency === null ? "no steady state (run too short)" : undefined
        )
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
