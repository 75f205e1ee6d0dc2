/**
 * Effect's metric registry in the Prometheus text format (version 0.0.4): what `evolve serve`
 * answers at /metrics. Counters, gauges and histograms map one to one; summaries become
 * Prometheus summaries; a frequency becomes a counter with one sample per occurrence (label `key`).
 */
import { Effect, Metric, type MetricLabel, type MetricPair, MetricState, Option } from "effect"

type Labels = ReadonlyArray<readonly [string, string]>

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const labelText = (labels: Labels) =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
const num = (n: number | bigint) =>
  typeof n === "bigint" ? String(n) : Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN"

const labelsOf = (tags: ReadonlyArray<MetricLabel.MetricLabel>): Labels => tags.map((t) => [t.key, t.value] as const)

interface Family {
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  help: string
  readonly lines: Array<readonly [string, string]>
}

const samples = (name: string, labels: Labels, state: MetricState.MetricState.Untyped): Array<string> => {
  if (MetricState.isCounterState(state)) return [`${name}${labelText(labels)} ${num(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labelText(labels)} ${num(state.value)}`]
  if (MetricState.isHistogramState(state)) {
    return [
      ...state.buckets.map(([le, count]) => `${name}_bucket${labelText([...labels, ["le", num(le)]])} ${count}`),
      `${name}_sum${labelText(labels)} ${num(state.sum)}`,
      `${name}_count${labelText(labels)} ${state.count}`
    ]
  }
  if (MetricState.isSummaryState(state)) {
    return [
      ...state.quantiles.flatMap(([q, value]) =>
        Option.isSome(value) ? [`${name}${labelText([...labels, ["quantile", num(q)]])} ${num(value.value)}`] : []
      ),
      `${name}_sum${labelText(labels)} ${num(state.sum)}`,
      `${name}_count${labelText(labels)} ${state.count}`
    ]
  }
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences].map(([key, count]) => `${name}${labelText([...labels, ["key", key]])} ${count}`)
  }
  return []
}

const typeOf = (state: MetricState.MetricState.Untyped): Family["type"] =>
  MetricState.isGaugeState(state)
    ? "gauge"
    : MetricState.isHistogramState(state)
    ? "histogram"
    : MetricState.isSummaryState(state)
    ? "summary"
    : "counter"

/** The metrics as Prometheus text: families and their samples sorted by name and labels, so scrapes diff cleanly. */
export const render = (pairs: Iterable<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const { metricKey, metricState } of pairs) {
    const name = metricKey.name
    let family = families.get(name)
    if (family === undefined) {
      family = { type: typeOf(metricState), help: "", lines: [] }
      families.set(name, family)
    }
    if (family.help === "" && Option.isSome(metricKey.description)) family.help = metricKey.description.value
    const labels = labelsOf(metricKey.tags)
    for (const line of samples(name, labels, metricState)) family.lines.push([labelText(labels), line])
  }
  const out: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    out.push(`# HELP ${name} ${escapeHelp(family.help || name)}`, `# TYPE ${name} ${family.type}`)
    // Stable by label set; a histogram's own lines keep their order (buckets, sum, count).
    const sorted = family.lines.map((l, i) => [l, i] as const).sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j))
    for (const [[, line]] of sorted) out.push(line)
  }
  return `${out.join("\n")}\n`
}

/** Everything in Effect's metric registry, as Prometheus text. */
export const snapshot: Effect.Effect<string> = Effect.map(Metric.snapshot, render)
