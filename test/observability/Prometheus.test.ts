import { Effect, Metric, MetricBoundaries } from "effect"
import { describe, expect, it } from "vitest"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as RunMetrics from "../../src/observability/RunMetrics.js"
import type { RunEvent } from "../../src/domain/RunEvent.js"

/** The Prometheus text of the registry's metrics whose names start with `prefix`. */
const scrape = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => Prometheus.render(pairs.filter((p) => p.metricKey.name.startsWith(prefix))))

describe("Prometheus text from Effect's metric registry", () => {
  it("renders counters, gauges and histograms with their labels, sorted", async () => {
    const text = await Effect.runPromise(Effect.gen(function*() {
      const hits = Metric.counter("ptest_hits_total", { description: "Hits", incremental: true })
      yield* Metric.update(hits.pipe(Metric.tagged("route", "b")), 2)
      yield* Metric.update(hits.pipe(Metric.tagged("route", "a\"\n\\")), 1)
      yield* Metric.set(Metric.gauge("ptest_level", { description: "Level" }), 0.5)
      const latency = Metric.histogram("ptest_latency_seconds", MetricBoundaries.fromIterable([0.1, 1]), "Latency")
      for (const v of [0.05, 0.5, 0.5, 7]) yield* Metric.update(latency.pipe(Metric.tagged("model", "m")), v)
      return yield* scrape("ptest_")
    }))
    expect(text).toBe([
      "# HELP ptest_hits_total Hits",
      "# TYPE ptest_hits_total counter",
      "ptest_hits_total{route=\"a\\\"\\n\\\\\"} 1",
      "ptest_hits_total{route=\"b\"} 2",
      "# HELP ptest_latency_seconds Latency",
      "# TYPE ptest_latency_seconds histogram",
      "ptest_latency_seconds_bucket{model=\"m\",le=\"0.1\"} 1",
      "ptest_latency_seconds_bucket{model=\"m\",le=\"1\"} 3",
      "ptest_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 4",
      "ptest_latency_seconds_sum{model=\"m\"} 8.05",
      "ptest_latency_seconds_count{model=\"m\"} 4",
      "# HELP ptest_level Level",
      "# TYPE ptest_level gauge",
      "ptest_level 0.5",
      ""
    ].join("\n"))
  })

  it("serves the run metrics under the names and labels of /metrics", async () => {
    const runId = "run_prom_test"
    const at = 1_000_000
    const events = [
      { _tag: "RunStarted", runId, at, resumed: false },
      { _tag: "CandidateProposed", runId, at, programId: "p1", parentId: "p0", model: "m1", island: 0 },
      { _tag: "LlmCallDone", runId, at, model: "m1", latencyMs: 300, inputTokens: 10, outputTokens: 4, usd: 0.5, attempts: 1 },
      { _tag: "CandidateEvaluated", runId, at: at + 2500, programId: "p1", score: 1, evalMs: 500, metrics: {} },
      { _tag: "CandidateFailed", runId, at, programId: "p2", stage: "evaluate", kind: "timeout", message: "" }
    ] as unknown as ReadonlyArray<RunEvent>
    const text = await Effect.runPromise(Effect.gen(function*() {
      const record = RunMetrics.makeRecorder()
      for (const e of events) yield* record(e)
      yield* RunMetrics.setLive(runId, { inFlightProposals: 3, inFlightEvaluations: 2, queued: 1, elapsedMs: 4000 })
      return yield* scrape("evolve_")
    }))
    const line = (s: string) => expect(text.split("\n")).toContain(s)
    line(`evolve_run_sessions_total{run="${runId}",resumed="false"} 1`)
    line(`evolve_candidates_proposed_total{run="${runId}",model="m1"} 1`)
    line(`evolve_llm_calls_total{run="${runId}",model="m1",outcome="ok"} 1`)
    line(`evolve_llm_tokens_total{run="${runId}",model="m1",direction="input"} 10`)
    line(`evolve_llm_cost_usd_total{run="${runId}",model="m1"} 0.5`)
    line(`evolve_llm_latency_seconds_bucket{model="m1",le="0.5"} 1`)
    line(`evolve_evaluations_total{run="${runId}",outcome="scored"} 1`)
    line(`evolve_evaluations_total{run="${runId}",outcome="failed"} 1`)
    line(`evolve_failures_total{run="${runId}",stage="evaluate",kind="timeout"} 1`)
    line(`evolve_evaluation_duration_seconds_sum{run="${runId}"} 0.5`)
    // Proposed at `at`, evaluated from at + 2000 (finished at + 2500 after 500 ms): waited 2 s.
    line(`evolve_queue_wait_seconds_sum{run="${runId}"} 2`)
    line(`evolve_in_flight_proposals{run="${runId}"} 3`)
    line(`evolve_run_elapsed_seconds{run="${runId}"} 4`)
    line("# TYPE evolve_llm_latency_seconds histogram")
  })
})
