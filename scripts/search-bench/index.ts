/**
 * `npm run bench:search`: how fast each search strategy finds good programs.
 *
 * On examples whose optimum is known (to this script only; the evaluators score programs
 * without knowing it), runs evolve in-process with the offline provider (deterministic given
 * the seed) and the real command evaluator, several seeds per strategy, and reports:
 * - the best score after k evaluations (median over seeds) for a few k;
 * - the evaluations needed to get within the tolerance of the optimum (median over the seeds
 *   that got there, and how many did).
 *
 *   node dist/scripts/search-bench/index.js [--evals 100] [--seeds 1,...,10] [--parallel 2]
 *     [--only point_spread] [--strategies hill_climb,islands_map_elites] [--adaptive on,off] [--out results.json]
 *     [--keep dir] (keep each run's database there, named problem-strategy-on|off-seed.db)
 *
 * Adaptive search (issue 17) runs on and off (`--adaptive`), on every problem; `deceptive` is a
 * problem built to trap a fixed strategy (a local optimum the offline model cannot leave by
 * small steps, scripts/search-bench/deceptive/): the report compares the evaluations to reach
 * its optimum, and the median best score on the other problems, with adaptive search on vs off.
 *
 * Strategies: hill_climb, mix, islands_map_elites (the default set), beam, power_law,
 * fitness_weighted, islands (no grid), islands_map_elites_greedy (exploitation 0.9, alpha 2).
 *
 * Each run uses P = 1 proposal and W = 1 evaluation in flight: with the instant offline model
 * the order of events, and with it the run, is in practice fixed by the seed. `--parallel` runs
 * that many runs side by side. (The replay provider would only repeat a recorded run exactly,
 * so it adds nothing to a comparison of strategies.)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import * as ProgramDatabase from "../../src/db/ProgramDatabase.js"
import { RunConfig, type RunConfigInput } from "../../src/domain/RunConfig.js"
import * as RunLimits from "../../src/engine/RunLimits.js"
import * as RunServices from "../../src/engine/RunServices.js"
import { startRun } from "../../src/engine/startRun.js"
import { allStores } from "../../test/support/database.js"

// ---- problems and strategies ----------------------------------------------------------------

interface Problem {
  readonly name: string
  readonly program: string
  readonly evaluator: string
  readonly language: string
  readonly goal: string
  /** Known best score (the evaluator does not use it). */
  readonly optimum: number
  /** "Within tolerance": score ≥ optimum − tolerance. */
  readonly tolerance: number
  /** MAP-Elites features for the islands + MAP-Elites strategy. */
  readonly features: ReadonlyArray<{ readonly name: string; readonly bins: number }>
  readonly requiredSymbols: ReadonlyArray<string>
}

/** The repository's examples/ (this file runs from scripts/ under vite-node or from dist/scripts/). */
const examplesDir = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "examples", "point_spread", "evaluator.mjs"))) return join(dir, "examples")
    dir = resolve(dir, "..")
  }
  return resolve("examples")
})()

/** This script's own problems (scripts/search-bench/deceptive/), found like the examples. */
const deceptiveDir = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const here = join(dir, "scripts", "search-bench", "deceptive")
    if (existsSync(join(here, "evaluator.mjs"))) return here
    dir = resolve(dir, "..")
  }
  return resolve("scripts", "search-bench", "deceptive")
})()

const problems: ReadonlyArray<Problem> = [
  {
    name: "point_spread",
    program: join(examplesDir, "point_spread", "initial_program.mjs"),
    evaluator: join(examplesDir, "point_spread", "evaluator.mjs"),
    language: "javascript",
    goal: "Place 6 points in the unit square so that the smallest pairwise distance is as large as possible.",
    // Best packing of 6 points in a unit square: sqrt(13)/6.
    optimum: Math.sqrt(13) / 6,
    tolerance: 0.01,
    features: [{ name: "spread", bins: 6 }, { name: "edit_distance", bins: 6 }],
    requiredSymbols: ["points"]
  },
  {
    name: "function_minimization",
    program: join(examplesDir, "function_minimization", "initial_program.mjs"),
    evaluator: join(examplesDir, "function_minimization", "evaluator.mjs"),
    language: "javascript",
    goal: "Minimise the black-box 2-D function given to search(f, bounds, budget, rng). Higher combined_score is better.",
    // combined_score is 1 when every seed lands on the global minimum.
    optimum: 1,
    tolerance: 0.05,
    features: [{ name: "success_rate", bins: 5 }, { name: "edit_distance", bins: 6 }],
    requiredSymbols: ["search"]
  },
  {
    name: "deceptive",
    program: join(deceptiveDir, "initial_program.mjs"),
    evaluator: join(deceptiveDir, "evaluator.mjs"),
    language: "javascript",
    goal: "Choose the design's scale and shape to maximise the score.",
    // The global peak of the evaluator's two-peak landscape.
    optimum: 1,
    tolerance: 0.05,
    features: [{ name: "local", bins: 5 }, { name: "edit_distance", bins: 6 }],
    requiredSymbols: ["design"]
  }
]

interface Strategy {
  readonly name: string
  /** Part of the default set (the others run with --strategies). */
  readonly default: boolean
  readonly population: (p: Problem) => NonNullable<RunConfigInput["population"]>
}

const islandsWithGrid = (p: Problem, extra: NonNullable<RunConfigInput["population"]> = {}) => ({
  islands: 3,
  migration_interval: 15,
  migration_fraction: 0.2,
  selection: "mix" as const,
  map_elites: { features: p.features.map((f) => ({ ...f })) },
  ...extra
})

const strategies: ReadonlyArray<Strategy> = [
  { name: "hill_climb", default: true, population: () => ({ selection: "hill_climb" }) },
  { name: "beam", default: false, population: () => ({ selection: "beam", beam_width: 4 }) },
  { name: "power_law", default: false, population: () => ({ selection: "power_law", power_law_alpha: 1.5 }) },
  { name: "mix", default: true, population: () => ({ selection: "mix" }) },
  { name: "fitness_weighted", default: false, population: () => ({ selection: "fitness_weighted" }) },
  { name: "islands", default: false, population: () => ({ islands: 3, migration_interval: 15, migration_fraction: 0.2 }) },
  { name: "islands_map_elites", default: true, population: (p) => islandsWithGrid(p) },
  {
    name: "islands_map_elites_greedy",
    default: false,
    population: (p) => islandsWithGrid(p, { exploitation: 0.9, power_law_alpha: 2 })
  }
]

// ---- arguments -------------------------------------------------------------------------------

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const list = (s: string | undefined) => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter((x) => x !== ""))

const evals = Number(arg("evals") ?? process.env["EVOLVE_SEARCH_BENCH_EVALS"] ?? 100)
const seeds = (list(arg("seeds")) ?? ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]).map(Number)
const adaptiveModes = (list(arg("adaptive")) ?? ["on", "off"]).map((m) => m === "on")
const parallel = Number(arg("parallel") ?? 2)
const only = list(arg("only"))
const onlyStrategies = list(arg("strategies"))
const out = arg("out")
/** Keep each run's database in this directory (to read its search_decisions and events). */
const keep = arg("keep")
const checkpoints = [10, 25, 50, 100, 150, 200, 300].filter((k) => k <= evals)

// ---- one run -----------------------------------------------------------------------------------

interface RunResult {
  readonly problem: string
  readonly strategy: string
  readonly adaptive: boolean
  readonly seed: number
  /** Best score after each evaluation (index k − 1: after k evaluations). */
  readonly curve: ReadonlyArray<number>
  readonly reachedAt: number | null
  readonly best: number
  readonly failures: Readonly<Record<string, number>>
  readonly seconds: number
}

const runOne = (problem: Problem, strategy: Strategy, adaptive: boolean, seed: number, dbFile: string) =>
  Effect.gen(function*() {
    const input: RunConfigInput = {
      goal: problem.goal,
      language: problem.language,
      seed,
      max_evaluations: evals,
      edit_format: "diff",
      concurrency: { proposals: 1, evaluations: 1 },
      evaluator: { command: [process.execPath, problem.evaluator], timeout_seconds: 20 },
      llm: { provider: "offline" },
      population: strategy.population(problem),
      search: { required_symbols: [...problem.requiredSymbols], adaptive },
      max_consecutive_proposal_failures: 1000
    }
    const config = Schema.decodeUnknownSync(RunConfig)(input)
    const spec = { programPath: problem.program, evaluatorPath: problem.evaluator, config }
    const started = performance.now()
    const summary = yield* Effect.scoped(Effect.gen(function*() {
      const start = { _tag: "New", spec, initialCode: readFileSync(problem.program, "utf8") } as const
      const handle = yield* startRun(start, { services: RunServices.layer(spec), metrics: false })
      return yield* handle.await
    })).pipe(Effect.provide(RunLimits.unlimited))
    const db = yield* allStores
    const timeline = yield* db.scoreTimeline(summary.runId, evals + 100)
    const curve: Array<number> = []
    let best = Number.NEGATIVE_INFINITY
    for (const point of timeline) {
      if (point.score !== null && point.score > best) best = point.score
      curve.push(best)
    }
    const target = problem.optimum - problem.tolerance
    const reached = curve.findIndex((s) => s >= target)
    return {
      problem: problem.name,
      strategy: strategy.name,
      adaptive,
      seed,
      curve,
      reachedAt: reached >= 0 ? reached + 1 : null,
      best,
      failures: summary.failuresByKind,
      seconds: (performance.now() - started) / 1000
    } satisfies RunResult
  }).pipe(Effect.provide(ProgramDatabase.layer(dbFile)))

// ---- report ------------------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : "—")

const report = (results: ReadonlyArray<RunResult>) => {
  const lines: Array<string> = []
  for (const problem of problems) {
    const mine = results.filter((r) => r.problem === problem.name)
    if (mine.length === 0) continue
    lines.push(
      "",
      `## ${problem.name}: optimum ${fmt(problem.optimum)}, tolerance ${problem.tolerance} (target ≥ ${fmt(problem.optimum - problem.tolerance)}), ${evals} evaluations, seeds ${seeds.join(",")}`,
      "",
      `| strategy | ${checkpoints.map((k) => `best@${k} (median)`).join(" | ")} | final best (mean) | reached target | evals to target (median of those) | patch/invalid/dup failures (mean) |`,
      `|---|${checkpoints.map(() => "---").join("|")}|---|---|---|---|`
    )
    for (const strategy of strategies) {
      for (const adaptive of adaptiveModes) {
        const rs = mine.filter((r) => r.strategy === strategy.name && r.adaptive === adaptive)
        if (rs.length === 0) continue
        const at = (k: number) => median(rs.map((r) => r.curve[Math.min(k, r.curve.length) - 1] ?? Number.NaN))
        const reached = rs.filter((r) => r.reachedAt !== null)
        const fails = mean(rs.map((r) => (r.failures["patch"] ?? 0) + (r.failures["invalid"] ?? 0) + (r.failures["duplicate"] ?? 0)))
        lines.push(
          `| ${strategy.name} (adaptive ${adaptive ? "on" : "off"}) | ${checkpoints.map((k) => fmt(at(k))).join(" | ")} | ${fmt(mean(rs.map((r) => r.best)))} | ${reached.length}/${rs.length} | ${
            reached.length > 0 ? String(median(reached.map((r) => r.reachedAt!))) : "—"
          } | ${fmt(fails, 1)} |`
        )
      }
    }
  }
  lines.push(...adaptiveComparison(results))
  return lines.join("\n")
}

/**
 * Adaptive search on vs off, per problem and strategy: evaluations to reach the target (a seed
 * that never reached it counts as evals + 1, so the median says how many seeds got there fast),
 * and the median final best score with its relative change.
 */
const adaptiveComparison = (results: ReadonlyArray<RunResult>) => {
  if (adaptiveModes.length < 2) return []
  const lines = [
    "",
    "## Adaptive search on vs off",
    "",
    "| problem | strategy | reached on / off | evals to target, median on / off (never = " + (evals + 1) + ") | median best on / off | change |",
    "|---|---|---|---|---|---|"
  ]
  for (const problem of problems) {
    for (const strategy of strategies) {
      const of = (adaptive: boolean) => results.filter((r) => r.problem === problem.name && r.strategy === strategy.name && r.adaptive === adaptive)
      const on = of(true)
      const off = of(false)
      if (on.length === 0 || off.length === 0) continue
      const toTarget = (rs: ReadonlyArray<RunResult>) => median(rs.map((r) => r.reachedAt ?? evals + 1))
      const reached = (rs: ReadonlyArray<RunResult>) => rs.filter((r) => r.reachedAt !== null).length
      const bestOn = median(on.map((r) => r.best))
      const bestOff = median(off.map((r) => r.best))
      const change = bestOff !== 0 ? (bestOn - bestOff) / Math.abs(bestOff) : Number.NaN
      lines.push(
        `| ${problem.name} | ${strategy.name} | ${reached(on)}/${on.length} / ${reached(off)}/${off.length} | ${toTarget(on)} / ${toTarget(off)} | ${fmt(bestOn)} / ${fmt(bestOff)} | ${
          Number.isFinite(change) ? `${(change * 100).toFixed(1)}%` : "—"
        } |`
      )
    }
  }
  return lines
}

// ---- main --------------------------------------------------------------------------------------

const main = Effect.gen(function*() {
  const dir = keep ?? mkdtempSync(join(tmpdir(), "evolve-search-bench-"))
  if (keep !== undefined) mkdirSync(keep, { recursive: true })
  const jobs = problems.filter((p) => only === undefined || only.includes(p.name)).flatMap((problem) =>
    strategies.filter((s) => (onlyStrategies === undefined ? s.default : onlyStrategies.includes(s.name))).flatMap((strategy) =>
      adaptiveModes.flatMap((adaptive) => seeds.map((seed) => ({ problem, strategy, adaptive, seed })))
    )
  )
  console.log(`search bench: ${jobs.length} runs of ${evals} evaluations (offline provider, P=1 W=1, ${parallel} at a time)`)
  const started = performance.now()
  try {
    const results = yield* Effect.forEach(
      jobs,
      (job, i) =>
        runOne(job.problem, job.strategy, job.adaptive, job.seed, join(dir, keep === undefined ? `run${i}.db` : `${job.problem.name}-${job.strategy.name}-${job.adaptive ? "on" : "off"}-${job.seed}.db`)).pipe(
          Effect.tap((r) =>
            Effect.sync(() =>
              console.log(
                `  ${r.problem} ${r.strategy} adaptive=${r.adaptive ? "on" : "off"} seed=${r.seed}: best ${fmt(r.best)}${
                  r.reachedAt !== null ? `, target at ${r.reachedAt}` : ""
                } (${r.seconds.toFixed(1)} s)`
              )
            )
          )
        ),
      { concurrency: parallel }
    )
    const text = report(results)
    console.log(text)
    console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`)
    if (out !== undefined) writeFileSync(out, JSON.stringify({ evals, seeds, adaptive: adaptiveModes, results }, null, 2))
  } finally {
    if (keep === undefined) rmSync(dir, { recursive: true, force: true })
  }
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
