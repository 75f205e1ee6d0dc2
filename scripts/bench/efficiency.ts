/**
 * Orchestration efficiency of one run, from the fake server's request log and the evaluators'
 * log (no reading of evolve's database). Definitions (docs/performance.md, "How each figure is
 * measured"):
 *
 * - ideal rate = min(P / L, W / E) (L: the fake server's mean latency, E: the evaluator's bare
 *   spawn-to-exit time); the pools whose rate is within 5% of it are the binding ones.
 * - ideal time for N evaluations = max((N − 1)·L/P + E, L + max(E, (N − 1)·E/W)): the initial
 *   program needs no LLM call and is evaluated while the first proposals are out; the last
 *   candidate is evaluated after its proposal came back. Whole-run efficiency = ideal time ÷
 *   wall time from spawn to exit.
 * - steady efficiency = the share of the binding pool's slot time in use over its steady window
 *   (the smaller share if both pools bind). An LLM slot is in use while a request that the run
 *   needed (its candidate was evaluated) is in flight at the fake server; an evaluator slot while
 *   an evaluation runs: from the start of its process when the evaluator logs it (else its logged
 *   start minus what a bare run spends before its log line) to its logged end plus what a bare
 *   run spends after it.
 */
import type { RecordedRequest } from "../../test/support/FakeOpenAiServer.js"
import type { LoggedEvaluation } from "./evaluationLog.js"
import { type Interval, slotShare, type SteadyWindow, steadyWindow } from "./slots.js"
import { round } from "./stats.js"

export interface RunShape {
  /** P: LLM requests in flight at most. */
  readonly proposals: number
  /** W: evaluations in flight at most. */
  readonly evaluations: number
  /** The fake server's mean latency, ms. */
  readonly llmMs: number
  /** The ideal evaluation time (a bare run's spawn to exit), ms. */
  readonly evalMs: number
}

export interface RunRecord {
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly evaluations: ReadonlyArray<LoggedEvaluation>
  /** How much of a bare run lies before the logged start and after the logged end, ms. */
  readonly evaluatorBeforeLogMs: number
  readonly evaluatorAfterLogMs: number
  /** Spawn of evolve, on the same clock as the request and evaluation times. */
  readonly spawnedAt: number
  readonly wallMs: number
}

export interface PoolUse {
  readonly pool: "llm" | "evaluation"
  readonly capacity: number
  /** capacity ÷ mean busy time of one slot, per second. */
  readonly ratePerSecond: number
  readonly binding: boolean
  /** Relative to spawn, ms; null when the run was too short for a steady state. */
  readonly window: (Omit<SteadyWindow, "from" | "to"> & { readonly fromMs: number; readonly toMs: number }) | null
  readonly share: number | null
  /** Why `share` is null. */
  readonly note?: string
}

/** Ideal time of a run of `n` evaluations, ms (see the module comment). */
export const idealRunMs = (shape: RunShape, n: number): number => {
  const { evalMs: e, evaluations: w, llmMs: l, proposals: p } = shape
  return Math.max(((n - 1) * l) / p + e, l + Math.max(e, ((n - 1) * e) / w))
}

/** A window shorter than one busy interval of the pool holds no steady state worth the name. */
const poolUse = (
  pool: PoolUse["pool"],
  intervals: ReadonlyArray<Interval>,
  capacity: number,
  meanMs: number,
  binding: boolean,
  spawnedAt: number
): PoolUse => {
  const ratePerSecond = round((capacity / meanMs) * 1000, 2)
  const window = steadyWindow(intervals, capacity)
  if (window === undefined || window.to - window.from < meanMs) {
    const note = `steady window ${window === undefined ? "empty" : `${Math.round(window.to - window.from)} ms`}, shorter than one ${
      pool === "llm" ? "LLM call" : "evaluation"
    }: too few evaluations for a steady state`
    return { pool, capacity, ratePerSecond, binding, window: null, share: null, note }
  }
  const { from, to, ...rest } = window
  return {
    pool,
    capacity,
    ratePerSecond,
    binding,
    window: { ...rest, fromMs: Math.round(from - spawnedAt), toMs: Math.round(to - spawnedAt) },
    share: round(slotShare(intervals, capacity, from, to), 4)
  }
}

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

export const analyzeRun = (shape: RunShape, run: RunRecord) => {
  const evaluated = new Set(run.evaluations.map((e) => e.variant))
  const n = evaluated.size
  const exit = run.spawnedAt + run.wallMs
  const needed = run.requests.filter((r) => evaluated.has(r.index + 1))
  const llmIntervals = needed.map((r) => ({ start: r.at, end: r.endedAt ?? exit }))
  const evalIntervals = run.evaluations.map((e) => ({
    start: e.processStart ?? e.start - run.evaluatorBeforeLogMs,
    end: e.end + run.evaluatorAfterLogMs
  }))
  const llmRate = (shape.proposals / shape.llmMs) * 1000
  const evalRate = (shape.evaluations / shape.evalMs) * 1000
  const ideal = Math.min(llmRate, evalRate)
  const pools = [
    poolUse("llm", llmIntervals, shape.proposals, shape.llmMs, llmRate <= ideal * 1.05, run.spawnedAt),
    poolUse("evaluation", evalIntervals, shape.evaluations, shape.evalMs, evalRate <= ideal * 1.05, run.spawnedAt)
  ]
  const binding = pools.filter((p) => p.binding)
  const steady = binding.some((p) => p.share === null) ? null : Math.min(...binding.map((p) => p.share!))
  const idealMs = idealRunMs(shape, n)
  const completions = run.evaluations.map((e) => e.end - run.spawnedAt).sort((a, b) => a - b)
  return {
    idealPerSecond: round(ideal, 2),
    bound: binding.map((p) => p.pool).join("+"),
    evaluations: n,
    steadyEfficiency: steady === null ? null : round(steady),
    steadyNote: binding.find((p) => p.share === null)?.note,
    wholeRunEfficiency: round(idealMs / run.wallMs),
    idealRunMs: Math.round(idealMs),
    wallMs: Math.round(run.wallMs),
    firstLlmRequestMs: run.requests.length === 0 ? null : round(Math.min(...run.requests.map((r) => r.at)) - run.spawnedAt, 1),
    lastCompletionMs: Math.round(completions.at(-1) ?? Number.NaN),
    pools,
    llmRequests: run.requests.length,
    /** Requests whose candidate was never evaluated (proposed past the end, failed, duplicate). */
    llmRequestsNotNeeded: run.requests.length - needed.length,
    /** Evaluations logged more than once for the same candidate. */
    repeatedEvaluations: run.evaluations.length - n,
    completionsPerSecond: perSecond(completions),
    completionsMs: completions.map((t) => Math.round(t))
  }
}

export type RunAnalysis = ReturnType<typeof analyzeRun>
