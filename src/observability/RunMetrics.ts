/**
 * Effect metrics for runs and batches, derived from the run's event stream (so the engine needs
 * no instrumentation of its own): LLM call latency, attempts and failures, evaluation time,
 * candidate queue wait, candidates by outcome, in-flight work. They live in Effect's metric
 * registry; `Metric.snapshot` reads them, and an exporter (OpenTelemetry, Prometheus) can too.
 */
import { Clock, Effect, Metric, MetricBoundaries, Queue, Schedule, type Scope } from "effect"
import type { RunEvent } from "../domain/RunEvent.js"

/** What the metrics read of a run: its events, and its in-flight figures. */
export interface ObservedRun {
  readonly runId: string
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<{ readonly inFlightProposals: number; readonly inFlightEvaluations: number; readonly queued: number }>
}

const latencyBoundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 20 })

export const llmCallLatency = Metric.histogram("evolve_llm_call_latency_ms", latencyBoundaries, "LLM call latency, all attempts")
export const llmCalls = Metric.counter("evolve_llm_calls_total", { description: "LLM calls by outcome", incremental: true })
export const llmRetries = Metric.counter("evolve_llm_retries_total", { description: "LLM call retries", incremental: true })
export const llmTokens = Metric.counter("evolve_llm_tokens_total", { description: "LLM tokens by direction", incremental: true })
export const evaluationDuration = Metric.histogram("evolve_evaluation_duration_ms", latencyBoundaries, "evaluation wall time")
export const candidateQueueWait = Metric.histogram(
  "evolve_candidate_queue_wait_ms",
  latencyBoundaries,
  "time a proposed candidate waited for an evaluator"
)
export const candidates = Metric.counter("evolve_candidates_total", { description: "candidates by outcome", incremental: true })
export const inFlight = Metric.gauge("evolve_in_flight", { description: "LLM calls or evaluations in flight" })
export const queued = Metric.gauge("evolve_queued_candidates", { description: "candidates waiting for an evaluator" })
export const bestScore = Metric.gauge("evolve_best_score", { description: "best score of the run" })

export const batchQueueWait = Metric.histogram("evolve_batch_queue_wait_ms", latencyBoundaries, "batch item queue wait")
export const batchItemDuration = Metric.histogram("evolve_batch_item_duration_ms", latencyBoundaries, "batch item time, all attempts")
export const batchConcurrency = Metric.gauge("evolve_batch_concurrency", { description: "batch items in flight" })
export const batchItems = Metric.counter("evolve_batch_items_total", { description: "batch items by outcome", incremental: true })

/**
 * Feeds the run's events into the metrics until the scope closes (subscribe right after the
 * run starts), and samples in-flight work every `sampleMs`.
 */
export const record = (handle: ObservedRun, sampleMs = 1000): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events = yield* handle.subscribe
    const run = { run_id: handle.runId }
    // Tagged metrics are built once per metric and tag set: events arrive per candidate.
    const cache = new Map<unknown, Map<string, unknown>>()
    const tagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, tags: Record<string, string>) => {
      let byTags = cache.get(metric)
      if (byTags === undefined) cache.set(metric, byTags = new Map())
      const key = Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(",")
      const hit = byTags.get(key) as Metric.Metric<Type, In, Out> | undefined
      if (hit !== undefined) return hit
      const made = Object.entries({ ...run, ...tags }).reduce((m, [k, v]) => Metric.tagged(m, k, v), metric)
      byTags.set(key, made)
      return made
    }
    const proposedAt = new Map<string, number>()

    const onEvent = Effect.flatMap(Queue.take(events), (event) => {
      switch (event._tag) {
        case "LlmCallDone":
          return Effect.all([
            Metric.update(tagged(llmCallLatency, { model: event.model }), event.latencyMs),
            Metric.update(tagged(llmCalls, { model: event.model, outcome: "ok" }), 1),
            Metric.update(tagged(llmTokens, { model: event.model, direction: "input" }), event.inputTokens),
            Metric.update(tagged(llmTokens, { model: event.model, direction: "output" }), event.outputTokens)
          ], { discard: true })
        case "LlmCallFailed":
          return Metric.update(tagged(llmCalls, { model: event.model, outcome: "error" }), 1)
        case "LlmCallRetried":
          return Metric.update(tagged(llmRetries, { model: event.model, reason: event.reason }), 1)
        case "CandidateProposed":
          return Effect.sync(() => proposedAt.set(event.programId, event.at))
        case "CandidateEvaluated": {
          const proposed = proposedAt.get(event.programId)
          proposedAt.delete(event.programId)
          return Effect.all([
            Metric.update(tagged(evaluationDuration, {}), event.evalMs),
            Metric.update(tagged(candidates, { outcome: "scored" }), 1),
            proposed === undefined
              ? Effect.void
              : Metric.update(tagged(candidateQueueWait, {}), Math.max(0, event.at - event.evalMs - proposed))
          ], { discard: true })
        }
        case "CandidateFailed":
          proposedAt.delete(event.programId)
          return Metric.update(tagged(candidates, { outcome: event.kind }), 1)
        case "NewBest":
          return Metric.set(tagged(bestScore, {}), event.score)
        default:
          return Effect.void
      }
    })

    const sample = Effect.flatMap(handle.stats, (s) =>
      Effect.all([
        Metric.set(tagged(inFlight, { kind: "llm" }), s.inFlightProposals),
        Metric.set(tagged(inFlight, { kind: "evaluation" }), s.inFlightEvaluations),
        Metric.set(tagged(queued, {}), s.queued)
      ], { discard: true }))

    yield* Effect.forkScoped(Effect.forever(onEvent))
    yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(sampleMs)))
  })

/** Milliseconds since `startNs` by the Effect clock. */
export const elapsedMs = (startNs: bigint) => Effect.map(Clock.currentTimeNanos, (now) => Number(now - startNs) / 1_000_000)
