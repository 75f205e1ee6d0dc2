/**
 * The explorer's views of a run, computed from its stored programs (pure functions, no I/O):
 * the lineage graph, a metric series, the throughput timeline (slot occupancy and queue depth
 * over time), islands, LLM calls per model over time, and a score curve for comparisons.
 */
import type { EvaluationRow, LlmCallTime, ProgramFacts } from "../db/ExploreQueries.js"
import type { IslandSummary, MetricSeries, RunLineage, Timeline } from "./ExploreApi.js"

/** The best scored program (the earliest of equals) and the path from the root down to it. */
export const bestPath = (facts: ReadonlyArray<ProgramFacts>) => {
  let best: ProgramFacts | undefined
  for (const f of facts) if (f.status === "evaluated" && f.score !== null && (best === undefined || f.score > best.score!)) best = f
  if (best === undefined) return { bestId: null, path: [] as Array<string> }
  const parentOf = new Map(facts.map((f) => [f.id, f.parentId]))
  const path: Array<string> = []
  const seen = new Set<string>()
  for (let id: string | null | undefined = best.id; id != null && !seen.has(id); id = parentOf.get(id)) {
    seen.add(id)
    path.push(id)
  }
  return { bestId: best.id, path: path.reverse() }
}

export const lineage = (runId: string, facts: ReadonlyArray<ProgramFacts>, include: "all" | "evaluated"): typeof RunLineage.Type => {
  const { bestId, path } = bestPath(facts)
  const kept = include === "all" ? facts : facts.filter((f) => f.status === "evaluated")
  const index = new Map(kept.map((f, i) => [f.id, i]))
  return {
    runId,
    bestId,
    bestPath: path,
    id: kept.map((f) => f.id),
    parent: kept.map((f) => (f.parentId === null ? -1 : index.get(f.parentId) ?? -1)),
    status: kept.map((f) => f.status),
    score: kept.map((f) => f.score),
    island: kept.map((f) => f.island),
    generation: kept.map((f) => f.generation),
    createdAt: kept.map((f) => f.createdAt),
    failureKind: kept.map((f) => f.failureKind)
  }
}

/** A finished evaluation: from the facts (score) or with its metrics. */
type Finished = { readonly id: string; readonly evaluatedAt: number; readonly score: number | null; readonly status: ProgramFacts["status"]; readonly metrics?: EvaluationRow["metrics"] }

/** Finished evaluations in time order, from the program facts (no metrics needed for the score). */
export const finished = (facts: ReadonlyArray<ProgramFacts>): Array<Finished> =>
  facts.flatMap((f) => (f.evaluatedAt === null ? [] : [{ id: f.id, evaluatedAt: f.evaluatedAt, score: f.score, status: f.status }]))
    .sort((a, b) => a.evaluatedAt - b.evaluatedAt || (a.id < b.id ? -1 : 1))

export const series = (metric: string, metricNames: ReadonlyArray<string>, createdAt: number, rows: ReadonlyArray<Finished>): typeof MetricSeries.Type => ({
  metric,
  metrics: ["score", ...metricNames.filter((m) => m !== "score")],
  createdAt,
  programId: rows.map((r) => r.id),
  at: rows.map((r) => r.evaluatedAt),
  value: rows.map((r) => {
    const raw = metric === "score" ? r.score : r.metrics?.[metric]
    return r.status === "evaluated" && typeof raw === "number" && Number.isFinite(raw) ? raw : null
  }),
  status: rows.map((r) => r.status)
})

type Interval = readonly [number, number]

/** Mean occupancy per bucket: each interval adds its overlap with every bucket it spans. */
const occupancy = (intervals: ReadonlyArray<Interval>, start: number, bucketMs: number, n: number): Array<number> => {
  const out = new Array<number>(n).fill(0)
  for (const [a, b] of intervals) {
    if (!(b > a)) continue
    for (let i = Math.max(0, Math.floor((a - start) / bucketMs)); i < n; i++) {
      const lo = start + i * bucketMs
      const hi = lo + bucketMs
      const overlap = Math.min(b, hi) - Math.max(a, lo)
      if (overlap > 0) out[i]! += overlap
      if (hi >= b) break
    }
  }
  return out.map((busy) => busy / bucketMs)
}

const busyTime = (intervals: ReadonlyArray<Interval>) => intervals.reduce((sum, [a, b]) => sum + Math.max(0, b - a), 0)

/** A share of capacity at which a pool counts as saturated. */
const saturated = 0.8

/**
 * Slot occupancy and queue depth over time, from stored times: a candidate's LLM call ran for
 * `llm_latency_ms` up to `created_at` (when it was stored), its evaluation for `eval_ms` up to
 * `evaluated_at`, and it waited in the queue in between (still waiting, when pending, until
 * `now`). The bottleneck is the pool that stays saturated while the other waits on it.
 */
export const timeline = (
  facts: ReadonlyArray<ProgramFacts>,
  limits: { readonly proposals: number; readonly evaluations: number },
  buckets: number,
  now: number | undefined
): typeof Timeline.Type => {
  const llm: Array<Interval> = []
  const evaluation: Array<Interval> = []
  const waiting: Array<readonly [number, number | undefined]> = []
  const done: Array<number> = []
  for (const f of facts) {
    if (f.model !== null && f.llmLatencyMs !== null && f.llmLatencyMs > 0) llm.push([f.createdAt - f.llmLatencyMs, f.createdAt])
    if (f.evaluatedAt !== null) {
      const began = f.evaluatedAt - Math.max(0, f.evalMs ?? 0)
      evaluation.push([began, f.evaluatedAt])
      waiting.push([f.createdAt, Math.max(f.createdAt, began)])
      done.push(f.evaluatedAt)
    } else if (f.status === "pending") waiting.push([f.createdAt, undefined])
  }
  let start = Number.POSITIVE_INFINITY
  let lastStored = Number.NEGATIVE_INFINITY
  for (const [a, b] of [...llm, ...evaluation]) {
    if (a < start) start = a
    if (b > lastStored) lastStored = b
  }
  for (const [a] of waiting) {
    if (a < start) start = a
    if (a > lastStored) lastStored = a
  }
  if (!Number.isFinite(start)) {
    const t = now ?? 0
    return {
      start: t, end: t, bucketMs: 0, limits, llm: [], evaluation: [], queued: [], completed: [],
      utilization: { llm: 0, evaluation: 0 }, meanQueued: 0, bottleneck: "unknown"
    }
  }
  const end = Math.max(lastStored, waiting.some(([, b]) => b === undefined) && now !== undefined ? now : lastStored)
  const queue: Array<Interval> = waiting.map(([a, b]) => [a, b ?? end])
  const span = Math.max(1, end - start)
  const n = Math.max(1, Math.min(buckets, Math.ceil(span)))
  const bucketMs = span / n
  const completed = new Array<number>(n).fill(0)
  for (const t of done) completed[Math.min(n - 1, Math.max(0, Math.floor((t - start) / bucketMs)))]! += 1
  const utilization = {
    llm: Math.min(1, busyTime(llm) / (Math.max(1, limits.proposals) * span)),
    evaluation: Math.min(1, busyTime(evaluation) / (Math.max(1, limits.evaluations) * span))
  }
  const meanQueued = busyTime(queue) / span
  const bottleneck = done.length < 2
    ? "unknown" as const
    : utilization.evaluation >= saturated && meanQueued >= 0.5
    ? "evaluator" as const
    : utilization.llm >= saturated && utilization.evaluation < saturated
    ? "llm" as const
    : "neither" as const
  return {
    start,
    end,
    bucketMs,
    limits,
    llm: occupancy(llm, start, bucketMs, n),
    evaluation: occupancy(evaluation, start, bucketMs, n),
    queued: occupancy(queue, start, bucketMs, n),
    completed,
    utilization,
    meanQueued,
    bottleneck
  }
}

/** Per island: size, best, how long it has stalled, migrants received. */
export const islands = (facts: ReadonlyArray<ProgramFacts>, migrants: ReadonlyMap<number, number>): Array<typeof IslandSummary.Type> => {
  const byIsland = new Map<number, Array<ProgramFacts>>()
  for (const f of facts) {
    const list = byIsland.get(f.island) ?? []
    list.push(f)
    byIsland.set(f.island, list)
  }
  return [...byIsland.entries()].sort(([a], [b]) => a - b).map(([island, members]) => {
    let best: ProgramFacts | undefined
    for (const f of members) if (f.status === "evaluated" && f.score !== null && (best === undefined || f.score > best.score!)) best = f
    const bestAt = best?.evaluatedAt ?? Number.NEGATIVE_INFINITY
    return {
      island,
      programs: members.length,
      evaluated: members.filter((f) => f.status === "evaluated").length,
      failed: members.filter((f) => f.status === "failed" || f.status === "rejected").length,
      pending: members.filter((f) => f.status === "pending").length,
      best: best?.score ?? null,
      bestProgramId: best?.id ?? null,
      sinceImprovement: members.filter((f) => f.evaluatedAt !== null && f.evaluatedAt > bestAt).length,
      migrantsIn: migrants.get(island) ?? 0
    }
  })
}

/** LLM calls (and failed ones) per model and time bucket, from the run's start. */
export const callsOverTime = (calls: ReadonlyArray<LlmCallTime>, start: number, buckets: number) => {
  const end = calls.reduce((m, c) => Math.max(m, c.createdAt), start)
  const span = Math.max(1, end - start)
  const n = Math.max(1, Math.min(buckets, Math.ceil(span)))
  const bucketMs = span / n
  const models = new Map<string, { calls: Array<number>; errors: Array<number> }>()
  for (const c of calls) {
    let m = models.get(c.model)
    if (m === undefined) {
      m = { calls: new Array<number>(n).fill(0), errors: new Array<number>(n).fill(0) }
      models.set(c.model, m)
    }
    const i = Math.min(n - 1, Math.max(0, Math.floor((c.createdAt - start) / bucketMs)))
    m.calls[i]! += 1
    if (c.outcome === "error") m.errors[i]! += 1
  }
  return { start, bucketMs, models: [...models.entries()].map(([model, m]) => ({ model, ...m })) }
}

/** Score and best-so-far per finished evaluation, in ms since the run started. */
export const curve = (createdAt: number, rows: ReadonlyArray<Finished>) => {
  let best: number | null = null
  return rows.map((r, i) => {
    const score = r.status === "evaluated" ? r.score : null
    if (score !== null && (best === null || score > best)) best = score
    return { n: i + 1, t: r.evaluatedAt - createdAt, score, best }
  })
}
