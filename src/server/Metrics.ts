import { Cause, Context, Effect, Layer, Queue } from "effect"
import type { RunEvent } from "../domain/RunEvent.js"
import type { RunStats } from "../engine/RunProtocol.js"
import { RunManager, type StoredEvent } from "../engine/RunManager.js"

type Labels = Readonly<Record<string, string>>

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

interface Family {
  readonly help: string
  readonly type: "counter" | "gauge" | "histogram"
  readonly buckets?: ReadonlyArray<number>
  readonly samples: Map<string, { labels: Labels; value: number; counts?: Array<number>; sum?: number }>
}

/** A small Prometheus text-format registry (counters, gauges, histograms with fixed buckets). */
export class Registry {
  private readonly families = new Map<string, Family>()

  private family(name: string, type: Family["type"], help: string, buckets?: ReadonlyArray<number>): Family {
    let f = this.families.get(name)
    if (f === undefined) {
      f = { help, type, samples: new Map(), ...(buckets ? { buckets } : {}) }
      this.families.set(name, f)
    }
    return f
  }

  inc(name: string, help: string, labels: Labels, by = 1) {
    const f = this.family(name, "counter", help)
    const key = labelText(labels)
    const s = f.samples.get(key)
    if (s) s.value += by
    else f.samples.set(key, { labels, value: by })
  }

  set(name: string, help: string, labels: Labels, value: number) {
    this.family(name, "gauge", help).samples.set(labelText(labels), { labels, value })
  }

  observe(name: string, help: string, buckets: ReadonlyArray<number>, labels: Labels, value: number) {
    const f = this.family(name, "histogram", help, buckets)
    const key = labelText(labels)
    let s = f.samples.get(key)
    if (s === undefined) {
      s = { labels, value: 0, counts: buckets.map(() => 0), sum: 0 }
      f.samples.set(key, s)
    }
    s.value++
    s.sum! += value
    buckets.forEach((b, i) => {
      if (value <= b) s.counts![i]!++
    })
  }

  /** Drops the gauges of one family (values recomputed at each scrape). */
  clearGauge(name: string) {
    this.families.get(name)?.samples.clear()
  }

  render(): string {
    const lines: Array<string> = []
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`)
      for (const s of f.samples.values()) {
        if (f.type !== "histogram") {
          lines.push(`${name}${labelText(s.labels)} ${num(s.value)}`)
          continue
        }
        f.buckets!.forEach((b, i) => lines.push(`${name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts![i]}`))
        lines.push(`${name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.value}`)
        lines.push(`${name}_sum${labelText(s.labels)} ${num(s.sum!)}`)
        lines.push(`${name}_count${labelText(s.labels)} ${s.value}`)
      }
    }
    return `${lines.join("\n")}\n`
  }
}

const latencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const durationBuckets = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/** Updates the registry from one run event (counters and histograms derive from the event stream). */
export const record = (registry: Registry, proposedAt: Map<string, { run: string; at: number }>, event: RunEvent) => {
  const run = event.runId
  switch (event._tag) {
    case "CandidateProposed":
      registry.inc("evolve_candidates_proposed_total", "Candidates proposed by the LLM and queued for evaluation", { run, model: event.model })
      proposedAt.set(event.programId, { run, at: event.at })
      break
    case "CandidateEvaluated": {
      registry.inc("evolve_evaluations_total", "Evaluations finished", { run, outcome: "scored" })
      registry.observe("evolve_evaluation_duration_seconds", "Evaluation wall time", durationBuckets, { run }, event.evalMs / 1000)
      const proposed = proposedAt.get(event.programId)
      if (proposed !== undefined) {
        proposedAt.delete(event.programId)
        const waitMs = Math.max(0, event.at - event.evalMs - proposed.at)
        registry.observe("evolve_queue_wait_seconds", "Time a proposed candidate waited for an evaluator", durationBuckets, { run }, waitMs / 1000)
      }
      break
    }
    case "CandidateFailed":
      if (event.stage === "evaluate") {
        registry.inc("evolve_evaluations_total", "Evaluations finished", { run, outcome: "failed" })
        proposedAt.delete(event.programId)
      }
      registry.inc("evolve_failures_total", "Failed candidates by stage and kind", { run, stage: event.stage, kind: event.kind })
      break
    case "NewBest":
      registry.set("evolve_best_score", "Best score of the run", { run }, event.score)
      break
    case "LlmCallDone":
      registry.inc("evolve_llm_calls_total", "LLM calls", { run, model: event.model, outcome: "ok" })
      registry.observe("evolve_llm_latency_seconds", "LLM call latency (all attempts)", latencyBuckets, { model: event.model }, event.latencyMs / 1000)
      registry.inc("evolve_llm_tokens_total", "LLM tokens", { run, model: event.model, direction: "input" }, event.inputTokens)
      registry.inc("evolve_llm_tokens_total", "LLM tokens", { run, model: event.model, direction: "output" }, event.outputTokens)
      registry.inc("evolve_llm_cost_usd_total", "LLM cost in USD", { run, model: event.model }, event.usd)
      break
    case "LlmCallRetried":
      registry.inc("evolve_llm_retries_total", "LLM call retries", { run, model: event.model, reason: event.reason })
      break
    case "LlmCallFailed":
      registry.inc("evolve_llm_calls_total", "LLM calls", { run, model: event.model, outcome: "error" })
      break
    case "RunStatusChanged":
      if (event.status !== "running" && event.status !== "stopping") {
        // Candidates proposed but never evaluated in this session: forget them.
        for (const [id, p] of proposedAt) if (p.run === run) proposedAt.delete(id)
      }
      break
    case "RunStarted":
      registry.inc("evolve_run_sessions_total", "Run sessions started (new runs and resumes)", { run, resumed: String(event.resumed) })
      break
  }
}

const liveGauges = (registry: Registry, stats: ReadonlyArray<RunStats>, limits: { llm: number; evaluations: number }) => {
  for (const name of ["evolve_in_flight_proposals", "evolve_in_flight_evaluations", "evolve_queued_candidates", "evolve_run_elapsed_seconds"]) {
    registry.clearGauge(name)
  }
  let llm = 0
  let evals = 0
  for (const s of stats) {
    registry.set("evolve_in_flight_proposals", "LLM proposals in flight (not counting those waiting for a shared permit)", { run: s.runId }, s.inFlightProposals)
    registry.set("evolve_in_flight_evaluations", "Evaluations in flight (not counting those waiting for a shared permit)", { run: s.runId }, s.inFlightEvaluations)
    registry.set("evolve_queued_candidates", "Candidates waiting in the run's queue", { run: s.runId }, s.queued)
    registry.set("evolve_run_elapsed_seconds", "Wall time of the run's current session", { run: s.runId }, s.elapsedMs / 1000)
    llm += s.inFlightProposals
    evals += s.inFlightEvaluations
  }
  registry.set("evolve_active_runs", "Runs hosted by this server", {}, stats.length)
  registry.set("evolve_shared_llm_limit", "Shared limit on LLM proposals in flight across runs", {}, limits.llm)
  registry.set("evolve_shared_evaluation_limit", "Shared limit on evaluations in flight across runs", {}, limits.evaluations)
  registry.set("evolve_in_flight_proposals_total", "LLM proposals in flight across runs", {}, llm)
  registry.set("evolve_in_flight_evaluations_total", "Evaluations in flight across runs", {}, evals)
}

/** The server process's memory, split the way V8 sees it: tells a growing live heap from a lazy GC or native buffers. */
const memoryGauges = (registry: Registry, memory: NodeJS.MemoryUsage) => {
  registry.set("process_resident_memory_bytes", "Resident set size of the server process", {}, memory.rss)
  registry.set("nodejs_heap_size_total_bytes", "V8 heap capacity", {}, memory.heapTotal)
  registry.set("nodejs_heap_size_used_bytes", "V8 heap in use (live data plus garbage not yet collected)", {}, memory.heapUsed)
  registry.set("nodejs_external_memory_bytes", "Memory of C++ objects bound to JS objects (buffers included)", {}, memory.external)
  registry.set("nodejs_array_buffers_bytes", "Memory of ArrayBuffers and Buffers", {}, memory.arrayBuffers)
}

/** Prometheus metrics for the hosted runs: counters from their event stream, gauges at scrape time. */
export class ServerMetrics extends Context.Tag("evolve/ServerMetrics")<ServerMetrics, {
  readonly render: Effect.Effect<string>
}>() {}

export const layer = Layer.scoped(
  ServerMetrics,
  Effect.gen(function*() {
    const manager = yield* RunManager
    const registry = new Registry()
    const proposedAt = new Map<string, { run: string; at: number }>()
    const events = yield* manager.subscribeAll
    yield* Queue.takeBetween(events, 1, 1024).pipe(
      Effect.tap((batch) =>
        Effect.sync(() => {
          for (const e of batch as Iterable<StoredEvent>) if (e.event !== undefined) record(registry, proposedAt, e.event)
        })
      ),
      Effect.forever,
      Effect.catchAllCause((cause) => (Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(cause))),
      Effect.interruptible,
      Effect.forkScoped
    )
    return ServerMetrics.of({
      render: Effect.map(Effect.zip(manager.activeStats, Effect.sync(() => process.memoryUsage())), ([stats, memory]) => {
        liveGauges(registry, stats, manager.limits)
        memoryGauges(registry, memory)
        return registry.render()
      })
    })
  })
)
