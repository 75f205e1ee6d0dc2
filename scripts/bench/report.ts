/** The results file and its renderings: a terminal table and a Markdown section. */
import type { GitInfo, MachineInfo } from "./machine.js"
import { type Figure, type ScenarioResult, verdict } from "./protocol.js"

export interface ScenarioOutcome {
  readonly name: string
  readonly durationS: number
  /** 1-minute load average before and after the scenario. */
  readonly loadAverage: { readonly before: number; readonly after: number }
  readonly result?: ScenarioResult | undefined
  readonly error?: string | undefined
}

export interface BenchResults {
  readonly generatedAt: string
  readonly mode: "full" | "quick"
  readonly machine: MachineInfo
  readonly git: GitInfo
  readonly scenarios: ReadonlyArray<ScenarioOutcome>
}

const digits = (unit: string, value: number) => {
  if (unit === "ratio") return 3
  if (unit === "s") return 3
  if (Math.abs(value) >= 100) return 0
  return unit === "ms" ? 2 : 1
}

export const formatValue = (figure: Figure): string =>
  figure.value === null ? (figure.note ?? "—") : `${figure.value.toFixed(digits(figure.unit, figure.value))} ${figure.unit}`

export const formatTarget = (figure: Figure): string =>
  figure.target === undefined ? "—" : `${figure.target.op === ">=" ? "≥" : "≤"} ${figure.target.value} ${figure.unit}`

interface Row {
  readonly figure: string
  readonly value: string
  readonly target: string
  readonly result: string
}

const rows = (results: BenchResults): Array<Row> =>
  results.scenarios.flatMap((s) =>
    s.result === undefined
      ? [{ figure: `${s.name}: FAILED`, value: (s.error ?? "").split("\n")[0] ?? "", target: "", result: "error" }]
      : s.result.figures.map((f) => ({
        figure: f.label,
        value: formatValue(f),
        target: formatTarget(f),
        result: verdict(f, s.result!.quick)
      }))
  )

export const table = (results: BenchResults): string => {
  const all = rows(results)
  const header: Row = { figure: "figure", value: "value", target: "target", result: "result" }
  const width = (key: keyof Row) => Math.max(...[header, ...all].map((r) => r[key].length))
  const line = (r: Row) =>
    [r.figure.padEnd(width("figure")), r.value.padStart(width("value")), r.target.padEnd(width("target")), r.result].join("  ")
  const m = results.machine
  return [
    `evolve bench (${results.mode}) — ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, node ${m.node}, load ${m.loadAverage}, commit ${
      results.git.commit.slice(0, 10)
    }${results.git.dirty ? " (dirty)" : ""}`,
    "",
    line(header),
    ...all.map(line)
  ].join("\n")
}

const cell = (text: string) => text.replace(/\|/g, "\\|")

export const markdownSection = (results: BenchResults): string => {
  const m = results.machine
  const header = ["| figure | value | target | result |", "|---|---:|---|---|"]
  const body = rows(results).map((r) => `| ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.target)} | ${r.result} |`)
  const loads = results.scenarios.map((s) => `${s.name} ${s.loadAverage.before}→${s.loadAverage.after}`).join(", ")
  return [
    `Measured ${results.generatedAt} on ${m.cpuModel} (${m.cores} cores, ${m.memoryGb} GB), Linux ${m.kernel}, Node ${m.node},`,
    `commit \`${results.git.commit.slice(0, 10)}\`${results.git.dirty ? " plus uncommitted changes" : ""}.`,
    `1-minute load average per scenario (before→after): ${loads}.`,
    "",
    ...header,
    ...body,
    "",
    "![evolve benchmark chart](performance-chart.svg)"
  ].join("\n")
}
