/**
 * `--debug`: every span printed when it ends (duration, nesting, attributes, failure), and a
 * table of timings per span name when the scope closes. It wraps another tracer (Effect's own,
 * or the OpenTelemetry one), so debug output and OTLP export work together.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"

/** One ended span, as the debug tracer reports it. */
export interface SpanRecord {
  readonly name: string
  readonly spanId: string
  readonly traceId: string
  readonly parentSpanId: string | null
  /** Number of ancestors (0 for a root span). */
  readonly depth: number
  readonly durationMs: number
  readonly attributes: Readonly<Record<string, unknown>>
  readonly outcome: "ok" | "error" | "interrupted"
}

/** Per span name: how many, how long. */
export interface SpanTiming {
  readonly name: string
  readonly count: number
  readonly errors: number
  readonly totalMs: number
  readonly meanMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly maxMs: number
}

export type Sink = (line: string) => void

/** Writes to stderr, so the debug output never mixes with a command's stdout. */
export const stderrSink: Sink = (line) => {
  process.stderr.write(`${line}\n`)
}

const depthOf = (span: Tracer.AnySpan): number => {
  let depth = 0
  let parent = span._tag === "Span" ? span.parent : Option.none()
  while (Option.isSome(parent)) {
    depth++
    parent = parent.value._tag === "Span" ? parent.value.parent : Option.none()
  }
  return depth
}

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): SpanRecord["outcome"] =>
  Exit.isSuccess(exit) ? "ok" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "error"

const formatValue = (value: unknown): string => {
  if (typeof value === "string") return value.length > 60 ? JSON.stringify(`${value.slice(0, 60)}…`) : value
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)))
  if (typeof value === "bigint" || typeof value === "boolean") return String(value)
  return JSON.stringify(value) ?? String(value)
}

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2))

/** One line per ended span: `span   12.3ms  ··Proposer.propose  key=value …`. */
export const formatSpan = (record: SpanRecord): string => {
  const attrs = Object.entries(record.attributes)
    .filter(([key]) => key !== "code.stacktrace")
    .map(([key, value]) => `${key}=${formatValue(value)}`)
  const status = record.outcome === "ok" ? "" : ` [${record.outcome}]`
  return `span ${fmtMs(record.durationMs).padStart(8)}ms  ${"··".repeat(record.depth)}${record.name}${status}${
    attrs.length > 0 ? `  ${attrs.join(" ")}` : ""
  }`
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/** Keeps durations per span name (the first `keep` of each, for percentiles) and counts all. */
export class TimingTable {
  private readonly byName = new Map<string, { count: number; errors: number; total: number; max: number; samples: Array<number> }>()
  constructor(private readonly keep = 100_000) {}

  add(record: SpanRecord): void {
    let entry = this.byName.get(record.name)
    if (entry === undefined) {
      entry = { count: 0, errors: 0, total: 0, max: 0, samples: [] }
      this.byName.set(record.name, entry)
    }
    entry.count++
    if (record.outcome === "error") entry.errors++
    entry.total += record.durationMs
    entry.max = Math.max(entry.max, record.durationMs)
    if (entry.samples.length < this.keep) entry.samples.push(record.durationMs)
  }

  timings(): ReadonlyArray<SpanTiming> {
    return [...this.byName.entries()]
      .map(([name, e]) => {
        const sorted = [...e.samples].sort((a, b) => a - b)
        return {
          name,
          count: e.count,
          errors: e.errors,
          totalMs: e.total,
          meanMs: e.total / e.count,
          p50Ms: percentile(sorted, 50),
          p95Ms: percentile(sorted, 95),
          maxMs: e.max
        }
      })
      .sort((a, b) => b.totalMs - a.totalMs)
  }
}

/** The timing table as text, one row per span name, slowest total first. */
export const formatTimings = (timings: ReadonlyArray<SpanTiming>): string => {
  const width = Math.max(4, ...timings.map((t) => t.name.length))
  const header = `${"span".padEnd(width)}  ${["count", "errors", "total ms", "mean", "p50", "p95", "max"].map((h) => h.padStart(9)).join("")}`
  const rows = timings.map((t) =>
    `${t.name.padEnd(width)}  ${
      [String(t.count), String(t.errors), fmtMs(t.totalMs), fmtMs(t.meanMs), fmtMs(t.p50Ms), fmtMs(t.p95Ms), fmtMs(t.maxMs)]
        .map((c) => c.padStart(9))
        .join("")
    }`
  )
  return ["timings:", header, ...rows].join("\n")
}

/**
 * Wraps `inner`: spans are created and exported by `inner` as before, and each one also goes to
 * `onEnd` when it ends. The span objects stay `inner`'s own, so exporters that recognize their
 * spans keep working.
 */
export const wrap = (inner: Tracer.Tracer, onEnd: (record: SpanRecord) => void): Tracer.Tracer =>
  Tracer.make({
    span(name, parent, context, links, startTime, kind, options) {
      const span = inner.span(name, parent, context, links, startTime, kind, options)
      const end = span.end
      const depth = depthOf(span)
      const mutable = span as { end: Tracer.Span["end"] }
      mutable.end = function(endTime, exit) {
        end.call(span, endTime, exit)
        onEnd({
          name: span.name,
          spanId: span.spanId,
          traceId: span.traceId,
          parentSpanId: Option.match(span.parent, { onNone: () => null, onSome: (p) => p.spanId }),
          depth,
          durationMs: Number(endTime - startTime) / 1_000_000,
          attributes: Object.fromEntries(span.attributes),
          outcome: outcomeOf(exit)
        })
      }
      return span
    },
    context: (f, fiber) => inner.context(f, fiber)
  })

export interface DebugOptions {
  /** Where lines go (default stderr). */
  readonly sink?: Sink | undefined
  /** Print each span as it ends (default true); the timing table is printed either way. */
  readonly spans?: boolean | undefined
}

/**
 * A debug tracer over `inner` for the life of the scope: prints spans as they end and, when the
 * scope closes, the timing table.
 */
export const make = (inner: Tracer.Tracer, options: DebugOptions = {}): Effect.Effect<Tracer.Tracer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sink = options.sink ?? stderrSink
    const printSpans = options.spans ?? true
    const table = new TimingTable()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const timings = table.timings()
        if (timings.length > 0) sink(formatTimings(timings))
      })
    )
    return wrap(inner, (record) => {
      table.add(record)
      if (printSpans) sink(formatSpan(record))
    })
  })
