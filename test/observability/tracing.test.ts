import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, ManagedRuntime } from "effect"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import * as FunctionEvaluator from "../../src/evaluate/FunctionEvaluator.js"
import * as Evolution from "../../src/facade/Evolution.js"
import { evolve } from "../../src/facade/evolve.js"
import { EvolveTest } from "../../src/facade/Layers.js"
import * as DebugTracer from "../../src/observability/DebugTracer.js"
import * as Observability from "../../src/observability/Observability.js"
import * as Otlp from "../../src/observability/Otlp.js"

const program = "const a = 1.0\nconst b = 2.0\n"
const score = (code: string) => {
  const a = Number(/const a = (-?[\d.e+-]+)/.exec(code)?.[1])
  const b = Number(/const b = (-?[\d.e+-]+)/.exec(code)?.[1])
  return { score: -((a - 3) ** 2) - (b + 1) ** 2 }
}

const evaluator = FunctionEvaluator.layer((request) => Effect.succeed(score(request.code)))

/** A small evolution through the Effect API (run span, proposals, LLM calls, evaluations, DB). */
const smallRun = Effect.gen(function*() {
  const spec = yield* Evolution.inlineSpec({ max_evaluations: 6, concurrency: { proposals: 2, evaluations: 2 } })
  return yield* Evolution.run({ spec, initialCode: program })
}).pipe(Effect.provide(EvolveTest(evaluator)))

const byId = (spans: ReadonlyArray<ReadableSpan>) => new Map(spans.map((s) => [s.spanContext().spanId, s]))
const parentOf = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan) =>
  byId(spans).get(span.parentSpanContext?.spanId ?? "")

describe("tracing", () => {
  it("exports spans for the run, proposals, LLM calls, evaluations and DB writes with the right parents", async () => {
    const exporter = new InMemorySpanExporter()
    const runtime = ManagedRuntime.make(Otlp.layer({ spanProcessor: new SimpleSpanProcessor(exporter) }))
    const result = await runtime.runPromise(smallRun.pipe(Effect.withSpan("app")))
    // Read before disposing: shutting the provider down empties the in-memory exporter.
    const spans = exporter.getFinishedSpans()
    await runtime.dispose()
    expect(result.summary?.evaluations).toBe(6)

    const named = (name: string) => spans.filter((s) => s.name === name)
    const [app] = named("app")
    const [run] = named("EvolutionRun")
    expect(app).toBeDefined()
    expect(run).toBeDefined()
    expect(parentOf(spans, run!)).toBe(app)
    expect(run!.attributes["evolve.run_id"]).toBe(result.runId)
    expect(run!.attributes["evolve.evaluations"]).toBe(6)
    expect(run!.attributes["evolve.status"]).toBe("completed")
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)

    const proposals = named("Proposer.propose")
    expect(proposals.length).toBe(5)
    for (const p of proposals) expect(parentOf(spans, p)).toBe(run)
    const llm = named("LlmClient.complete")
    expect(llm.length).toBe(5)
    for (const call of llm) {
      expect(parentOf(spans, call)?.name).toBe("Proposer.propose")
      expect(call.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0)
      expect(call.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0)
      expect(call.attributes["llm.attempts"]).toBe(1)
      expect(call.attributes["gen_ai.response.model"]).toBeDefined()
    }
    const evaluations = named("Evaluator.evaluate")
    expect(evaluations.length).toBe(6)
    for (const e of evaluations) {
      expect(parentOf(spans, e)).toBe(run)
      expect(e.attributes["evolve.programId"]).toBeDefined()
    }
    const commits = named("CandidateStore.commitEvaluation")
    expect(commits.length).toBe(6)
    for (const c of commits) expect(parentOf(spans, c)).toBe(run)
    // @effect/sql traces the statements inside each database transaction.
    const sqlUnderCommit = spans.filter((s) => parentOf(spans, s)?.name === "CandidateStore.commitEvaluation")
    expect(sqlUnderCommit.length).toBeGreaterThan(0)
  })

  it("prints spans and a timing table with --debug", async () => {
    const lines: Array<string> = []
    const runtime = ManagedRuntime.make(Observability.layer({ env: {}, debug: (line) => lines.push(line) }))
    await runtime.runPromise(smallRun)
    expect(lines.some((l) => /^span +[\d.]+ms +(··)+Evaluator\.evaluate/.test(l))).toBe(true)
    expect(lines.some((l) => /LlmClient\.complete .*gen_ai\.usage\.input_tokens=\d+/.test(l))).toBe(true)
    expect(lines.some((l) => l.startsWith("timings:"))).toBe(false)
    await runtime.dispose()
    const table = lines.find((l) => l.startsWith("timings:"))
    expect(table).toBeDefined()
    expect(table).toMatch(/EvolutionRun +1 +0 /)
    expect(table).toMatch(/Evaluator\.evaluate +6 +0 /)
  })

  it("changes nothing when neither OTLP nor debug is asked for", async () => {
    const inner = await Effect.runPromise(Effect.tracer)
    const tracer = await Effect.runPromise(Effect.scoped(Observability.makeTracer({ env: {} })))
    expect(tracer).toBeUndefined()
    const inside = await Effect.runPromise(Effect.tracer.pipe(Effect.provide(Observability.layer({ env: {} }))))
    expect(inside).toBe(inner)
    expect(Observability.otlpEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318" })).toBe(true)
    expect(Observability.otlpEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318", OTEL_SDK_DISABLED: "true" })).toBe(false)
    expect(Observability.otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318/" })).toBe("http://x:4318/v1/traces")
  })

  it("switches spans off when nothing reads them and spansOffWhenUnused is set (the CLI)", async () => {
    const spansOpened = async (options: Observability.ObservabilityOptions) => {
      const names: Array<string> = []
      const counting = Effect.map(Effect.tracer, (inner) => ({
        ...inner,
        span: (...args: Parameters<typeof inner.span>) => {
          names.push(args[0])
          return inner.span(...args)
        }
      }))
      const tracer = await Effect.runPromise(counting)
      await Effect.runPromise(
        Effect.void.pipe(Effect.withSpan("work"), Effect.provide(Observability.layer(options)), Effect.withTracer(tracer))
      )
      return names
    }
    expect(await spansOpened({ env: {} })).toEqual(["work"])
    expect(await spansOpened({ env: {}, spansOffWhenUnused: true })).toEqual([])
    // debug asks for spans: they stay on.
    expect(await spansOpened({ env: {}, debug: () => {}, spansOffWhenUnused: true })).not.toEqual([])
  })

  describe("against a local OTLP collector", () => {
    const collector = async () => {
      const requests: Array<{ url: string; contentType: string; body: any }> = []
      const server = createServer((req: IncomingMessage, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          requests.push({ url: req.url ?? "", contentType: req.headers["content-type"] ?? "", body: JSON.parse(text) })
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as AddressInfo
      const spanNames = () =>
        requests.flatMap((r) =>
          (r.body.resourceSpans ?? []).flatMap((rs: any) =>
            (rs.scopeSpans ?? []).flatMap((ss: any) => (ss.spans ?? []).map((s: any) => s.name as string))
          )
        )
      const serviceNames = () =>
        requests.flatMap((r) =>
          (r.body.resourceSpans ?? []).flatMap((rs: any) =>
            (rs.resource?.attributes ?? []).filter((a: any) => a.key === "service.name").map((a: any) => a.value.stringValue)
          )
        )
      return {
        endpoint: `http://127.0.0.1:${port}`,
        requests,
        spanNames,
        serviceNames,
        close: () => new Promise<void>((resolve) => server.close(() => resolve()))
      }
    }

    it("exports the spans of an Effect program when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
      const c = await collector()
      try {
        const runtime = ManagedRuntime.make(
          Observability.layer({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint } }).pipe(Layer.orDie)
        )
        await runtime.runPromise(smallRun)
        await runtime.dispose() // flushes the batch processor
        expect(c.requests.length).toBeGreaterThan(0)
        expect(c.requests.every((r) => r.url === "/v1/traces" && r.contentType.includes("json"))).toBe(true)
        expect(c.spanNames()).toEqual(expect.arrayContaining(["EvolutionRun", "Proposer.propose", "LlmClient.complete", "Evaluator.evaluate"]))
        expect(c.serviceNames()).toContain("evolve")
      } finally {
        await c.close()
      }
    })

    it("exports the spans of a facade call", async () => {
      const c = await collector()
      try {
        const result = await evolve({
          program,
          evaluate: score,
          iterations: 4,
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint, OTEL_SERVICE_NAME: "my-app" }
        })
        expect(result.summary?.evaluations).toBe(4)
        expect(c.spanNames()).toEqual(expect.arrayContaining(["evolve", "EvolutionRun", "Evaluator.evaluate"]))
      } finally {
        await c.close()
      }
    })
  })

  it("formats span lines and timing tables", () => {
    const line = DebugTracer.formatSpan({
      name: "LlmClient.complete",
      spanId: "s",
      traceId: "t",
      parentSpanId: "p",
      depth: 2,
      durationMs: 12.345,
      attributes: { "gen_ai.usage.input_tokens": 120, model: "m" },
      outcome: "error"
    })
    expect(line).toBe("span     12.3ms  ····LlmClient.complete [error]  gen_ai.usage.input_tokens=120 model=m")
    const table = new DebugTracer.TimingTable()
    for (const ms of [1, 2, 3, 4]) {
      table.add({ name: "x", spanId: "", traceId: "", parentSpanId: null, depth: 0, durationMs: ms, attributes: {}, outcome: "ok" })
    }
    expect(table.timings()).toEqual([{ name: "x", count: 4, errors: 0, totalMs: 10, meanMs: 2.5, p50Ms: 2, p95Ms: 4, maxMs: 4 }])
  })
})
