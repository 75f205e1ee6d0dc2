/**
 * Effect metrics for runs and batches, derived from the runs' event streams (so the engine needs
 * no instrumentation of its own): candidates, evaluations and their time, queue wait, failures,
 * LLM calls, latency, tokens, cost and retries, and each run's in-flight work. They live in
 * Effect's metric registry: `Metric.snapshot` reads them, `Prometheus.render` turns them into the
 * text `evolve serve` answers at /metrics, and an exporter (OpenTelemetry) can read them too.
 * Labels: `run` (the run id), `model`, `outcome`, `stage`, `kind`, `direction`, `reason`.
 */
import { Clock, Effect, Metric, MetricBoundaries, Queue, Schedule, type Scope } from "effect"
import type { RunEvent } from "../domain/RunEvent.js"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const gauge = (name: string, description: string) => Metric.gauge(name, { description })

/** Seconds. */
const latencyBuckets = MetricBoundaries.fromIterable([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300])
const durationBuckets = MetricBoundaries.fromIterable([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300])
/** Milliseconds (batches). */
const msBuckets = MetricBoundaries.exponential({ start: 1, factor: 2, count: 20 })

export const candidatesProposed = counter("evolve_candidates_proposed_total", "Candidates proposed by the LLM and queued for evaluation")
export const evaluations = counter("evolve_evaluations_total", "Evaluations finished")
export const evaluationDuration = Metric.histogram("evolve_evaluation_duration_seconds", durationBuckets, "Evaluation wall time")
export const queueWait = Metric.histogram("evolve_queue_wait_seconds", durationBuckets, "Time a proposed candidate waited for an evaluator")
export const failures = counter("evolve_failures_total", "Failed candidates by stage and kind")
export const bestScore = gauge("evolve_best_score", "Best score of the run")
export const llmCalls = counter("evolve_llm_calls_total", "LLM calls")
export const llmLatency = Metric.histogram("evolve_llm_latency_seconds", latencyBuckets, "LLM call latency (all attempts)")
export const llmTokens = counter("evolve_llm_tokens_total", "LLM tokens")
export const llmCost = counter("evolve_llm_cost_usd_total", "LLM cost in USD")
export const llmRetries = counter("evolve_llm_retries_total", "LLM call retries")
export const runSessions = counter("evolve_run_sessions_total", "Run sessions started (new runs and resumes)")

export const inFlightProposals = gauge(
  "evolve_in_flight_proposals",
  "LLM proposals in flight (not counting those waiting for a shared permit)"
)
export const inFlightEvaluations = gauge(
  "evolve_in_flight_evaluations",
  "Evaluations in flight (not counting those waiting for a shared permit)"
)
export const queued = gauge("evolve_queued_candidates", "Candidates waiting in the run's queue")
export const elapsed = gauge("evolve_run_elapsed_seconds", "Wall time of the run's current session")

export const batchQueueWait = Metric.histogram("evolve_batch_queue_wait_ms", msBuckets, "batch item queue wait")
export const batchItemDuration = Metric.histogram("evolve_batch_item_duration_ms", msBuckets, "batch item time, all attempts")
export const batchConcurrency = gauge("evolve_batch_concurrency", "batch items in flight")
export const batchItems = counter("evolve_batch_items_total", "batch items by outcome")

type Labels = ReadonlyArray<readonly [string, string]>

// Tagged metrics are built once per metric and label set: events arrive per candidate.
const taggedCache = new Map<unknown, Map<string, unknown>>()
const tagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, labels: Labels): Metric.Metric<Type, In, Out> => {
  let byLabels = taggedCache.get(metric)
  if (byLabels === undefined) taggedCache.set(metric, byLabels = new Map())
  const key = labels.map(([k, v]) => `${k}=${v}`).join("\u0000")
  const hit = byLabels.get(key) as Metric.Metric<Type, In, Out> | undefined
  if (hit !== undefined) return hit
  const made = labels.reduce((m, [k, v]) => Metric.tagged(m, k, v), metric)
  byLabels.set(key, made)
  return made
}

/**
 * Updates the metrics from run events. One recorder per event source: it remembers when each
 * candidate was proposed, to measure how long it waited for an evaluator.
 */
export const makeRecorder = () => {
  const proposedAt = new Map<string, { readonly run: string; readonly at: number }>()
  return (event: RunEvent): Effect.Effect<void> => {
    const run = ["run", event.runId] as const
    switch (event._tag) {
      case "CandidateProposed":
        proposedAt.set(event.programId, { run: event.runId, at: event.at })
        return Metric.update(tagged(candidatesProposed, [run, ["model", event.model]]), 1)
      case "CandidateEvaluated": {
        const proposed = proposedAt.get(event.programId)
        proposedAt.delete(event.programId)
        return Effect.all([
          Metric.update(tagged(evaluations, [run, ["outcome", "scored"]]), 1),
          Metric.update(tagged(evaluationDuration, [run]), event.evalMs / 1000),
          proposed === undefined
            ? Effect.void
            : Metric.update(tagged(queueWait, [run]), Math.max(0, event.at - event.evalMs - proposed.at) / 1000)
        ], { discard: true })
      }
      case "CandidateFailed": {
        const failure = Metric.update(tagged(failures, [run, ["stage", event.stage], ["kind", event.kind]]), 1)
        if (event.stage !== "evaluate") return failure
        proposedAt.delete(event.programId)
        return Effect.zipRight(Metric.update(tagged(evaluations, [run, ["outcome", "failed"]]), 1), failure)
      }
      case "NewBest":
        return Metric.set(tagged(bestScore, [run]), event.score)
      case "LlmCallDone": {
        const model = ["model", event.model] as const
        return Effect.all([
          Metric.update(tagged(llmCalls, [run, model, ["outcome", "ok"]]), 1),
          Metric.update(tagged(llmLatency, [model]), event.latencyMs / 1000),
          Metric.update(tagged(llmTokens, [run, model, ["direction", "input"]]), event.inputTokens),
          Metric.update(tagged(llmTokens, [run, model, ["direction", "output"]]), event.outputTokens),
          Metric.update(tagged(llmCost, [run, model]), event.usd)
        ], { discard: true })
      }
      case "LlmCallRetried":
        return Metric.update(tagged(llmRetries, [run, ["model", event.model], ["reason", event.reason]]), 1)
      case "LlmCallFailed":
        return Metric.update(tagged(llmCalls, [run, ["model", event.model], ["outcome", "error"]]), 1)
      case "RunStatusChanged":
        if (event.status !== "running" && event.status !== "stopping") {
          // Candidates proposed but never evaluated in this session: forget them.
          for (const [id, p] of proposedAt) if (p.run === event.runId) proposedAt.delete(id)
        }
        return Effect.void
      case "RunStarted":
        return Metric.update(tagged(runSessions, [run, ["resumed", String(event.resumed)]]), 1)
      default:
        return Effect.void
    }
  }
}

/** What a run's live gauges show. */
export interface LiveCounts {
  readonly inFlightProposals: number
  readonly inFlightEvaluations: number
  readonly queued: number
  readonly elapsedMs: number
}

/** Sets the run's live gauges. */
export const setLive = (runId: string, counts: LiveCounts) => {
  const run = [["run", runId] as const]
  return Effect.all([
    Metric.set(tagged(inFlightProposals, run), counts.inFlightProposals),
    Metric.set(tagged(inFlightEvaluations, run), counts.inFlightEvaluations),
    Metric.set(tagged(queued, run), counts.queued),
    Metric.set(tagged(elapsed, run), counts.elapsedMs / 1000)
  ], { discard: true })
}

/** Zeroes the in-flight gauges of a run that stopped (its elapsed time keeps its last value). */
export const clearLive = (runId: string) => {
  const run = [["run", runId] as const]
  return Effect.all([
    Metric.set(tagged(inFlightProposals, run), 0),
    Metric.set(tagged(inFlightEvaluations, run), 0),
    Metric.set(tagged(queued, run), 0)
  ], { discard: true })
}

/** What the metrics read of a run: its events, and its in-flight figures (a `RunHandle` is one). */
export interface ObservedRun {
  readonly runId: string
  /** Live events from now on. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<LiveCounts>
}

/**
 * Feeds one run's events into the metrics until the scope closes (subscribe right after the run
 * starts), and samples its in-flight work every `sampleMs`.
 */
export const record = (run: ObservedRun, sampleMs = 1000): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events = yield* run.subscribe
    const onEvent = makeRecorder()
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(events), onEvent)))
    yield* Effect.forkScoped(Effect.repeat(Effect.flatMap(run.stats, (s) => setLive(run.runId, s)), Schedule.spaced(sampleMs)))
    yield* Effect.addFinalizer(() => clearLive(run.runId))
  })

/** Milliseconds since `startNs` by the Effect clock. */
export const elapsedMs = (startNs: bigint) => Effect.map(Clock.currentTimeNanos, (now) => Number(now - startNs) / 1_000_000)
