import { Context, Effect, Layer, Metric } from "effect"
import { RunManager } from "../engine/RunManager.js"
import * as Prometheus from "../observability/Prometheus.js"

const gauge = (name: string, description: string) => Metric.gauge(name, { description })

const activeRuns = gauge("evolve_active_runs", "Runs hosted by this server")
const sharedLlmLimit = gauge("evolve_shared_llm_limit", "Shared limit on LLM proposals in flight across runs")
const sharedEvaluationLimit = gauge("evolve_shared_evaluation_limit", "Shared limit on evaluations in flight across runs")
const inFlightProposalsTotal = gauge("evolve_in_flight_proposals_total", "LLM proposals in flight across runs")
const inFlightEvaluationsTotal = gauge("evolve_in_flight_evaluations_total", "Evaluations in flight across runs")

// The server process's memory, split the way V8 sees it: tells a growing live heap from a lazy GC or native buffers.
const residentMemory = gauge("process_resident_memory_bytes", "Resident set size of the server process")
const heapTotal = gauge("nodejs_heap_size_total_bytes", "V8 heap capacity")
const heapUsed = gauge("nodejs_heap_size_used_bytes", "V8 heap in use (live data plus garbage not yet collected)")
const externalMemory = gauge("nodejs_external_memory_bytes", "Memory of C++ objects bound to JS objects (buffers included)")
const arrayBuffers = gauge("nodejs_array_buffers_bytes", "Memory of ArrayBuffers and Buffers")

const memoryGauges = Effect.flatMap(Effect.sync(() => process.memoryUsage()), (memory) =>
  Effect.all([
    Metric.set(residentMemory, memory.rss),
    Metric.set(heapTotal, memory.heapTotal),
    Metric.set(heapUsed, memory.heapUsed),
    Metric.set(externalMemory, memory.external),
    Metric.set(arrayBuffers, memory.arrayBuffers)
  ], { discard: true }))

/**
 * Prometheus metrics for the hosted runs, rendered from Effect's metric registry: the run
 * metrics (RunMetrics, fed by `startRun` for every hosted run) and gauges of the whole server,
 * sampled at scrape time.
 */
export class ServerMetrics extends Context.Tag("evolve/ServerMetrics")<ServerMetrics, {
  readonly render: Effect.Effect<string>
}>() {}

export const layer = Layer.effect(
  ServerMetrics,
  Effect.gen(function*() {
    const manager = yield* RunManager
    const serverGauges = Effect.flatMap(manager.activeStats, (stats) =>
      Effect.all([
        Metric.set(activeRuns, stats.length),
        Metric.set(sharedLlmLimit, manager.limits.llm),
        Metric.set(sharedEvaluationLimit, manager.limits.evaluations),
        Metric.set(inFlightProposalsTotal, stats.reduce((n, s) => n + s.inFlightProposals, 0)),
        Metric.set(inFlightEvaluationsTotal, stats.reduce((n, s) => n + s.inFlightEvaluations, 0))
      ], { discard: true }))
    return ServerMetrics.of({
      render: serverGauges.pipe(Effect.zipRight(memoryGauges), Effect.zipRight(Prometheus.snapshot))
    })
  })
)
