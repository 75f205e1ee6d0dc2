/**
 * docs/performance-chart.svg, hand-written SVG: (a) every efficiency ratio against its target,
 * (b) evaluations per second over time for P=W=8 against the ideal rate.
 */
import { type Figure, verdict } from "./protocol.js"
import type { BenchResults } from "./report.js"

const WIDTH = 820
const LABEL = 400
const BAR = 340
const ROW = 24
const colors = { pass: "#2e7d32", miss: "#c62828", info: "#78909c" } as const

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const text = (x: number, y: number, content: string, attrs = "") =>
  `<text x="${x}" y="${y}" ${attrs}>${escape(content)}</text>`

interface Throughput {
  readonly label: string
  readonly perSecond: ReadonlyArray<number>
  readonly ideal: number
}

const ratioPanel = (figures: ReadonlyArray<{ figure: Figure; quick: boolean }>, top: number) => {
  const scale = (v: number) => (Math.min(v, 1.1) / 1.1) * BAR
  const parts = [text(10, top + 16, "Orchestration efficiency (achieved ÷ ideal rate); black tick = target", `font-weight="bold"`)]
  figures.forEach(({ figure, quick }, i) => {
    const y = top + 30 + i * ROW
    const v = figure.value ?? 0
    const result = verdict(figure, quick)
    const color = result === "pass" ? colors.pass : result === "miss" ? colors.miss : colors.info
    parts.push(text(LABEL - 8, y + 15, figure.label.replace(/^efficiency /, ""), `text-anchor="end"`))
    parts.push(`<rect x="${LABEL}" y="${y + 3}" width="${scale(v).toFixed(1)}" height="${ROW - 8}" fill="${color}"/>`)
    parts.push(text(LABEL + scale(v) + 6, y + 15, v.toFixed(3)))
    if (figure.target !== undefined) {
      const x = LABEL + scale(figure.target.value)
      parts.push(`<line x1="${x}" x2="${x}" y1="${y}" y2="${y + ROW - 2}" stroke="#000" stroke-width="2"/>`)
    }
  })
  const axisY = top + 30 + figures.length * ROW + 4
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const x = LABEL + scale(tick)
    parts.push(`<line x1="${x}" x2="${x}" y1="${top + 28}" y2="${axisY}" stroke="#ddd"/>`)
    parts.push(text(x, axisY + 14, tick.toFixed(2), `text-anchor="middle" fill="#555"`))
  }
  return { svg: parts.join("\n"), height: axisY + 24 - top }
}

const throughputPanel = (series: Throughput, top: number) => {
  const height = 200
  const left = 60
  const width = WIDTH - left - 30
  const seconds = series.perSecond.length
  const yMax = Math.max(series.ideal * 1.25, ...series.perSecond)
  const x = (s: number) => left + (s / Math.max(1, seconds)) * width
  const y = (v: number) => top + 30 + height - (v / yMax) * height
  const points = series.perSecond.map((v, s) => `${x(s + 0.5).toFixed(1)},${y(v).toFixed(1)}`).join(" ")
  const parts = [
    text(10, top + 16, `Evaluations per second over the run, ${series.label}; dashed = ideal`, `font-weight="bold"`),
    `<line x1="${left}" x2="${left + width}" y1="${y(0)}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${left}" x2="${left}" y1="${y(yMax)}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${left}" x2="${left + width}" y1="${y(series.ideal)}" y2="${y(series.ideal)}" stroke="#000" stroke-dasharray="6 4"/>`,
    text(left - 6, y(series.ideal) + 4, series.ideal.toFixed(1), `text-anchor="end"`),
    text(left - 6, y(0) + 4, "0", `text-anchor="end"`),
    `<polyline points="${points}" fill="none" stroke="#1565c0" stroke-width="2"/>`
  ]
  for (let s = 0; s <= seconds; s += Math.max(1, Math.ceil(seconds / 10))) {
    parts.push(text(x(s), y(0) + 16, `${s} s`, `text-anchor="middle" fill="#555"`))
  }
  return { svg: parts.join("\n"), height: height + 60 }
}

const findThroughput = (results: BenchResults): Throughput | undefined => {
  const scenario = results.scenarios.find((s) => s.name === "orchestration")?.result
  const cases = (scenario?.details["cases"] ?? []) as ReadonlyArray<{
    readonly case: { readonly id: string; readonly proposals: number; readonly evaluations: number; readonly llmMs: number; readonly evalMs: number }
    readonly completionsPerSecond: ReadonlyArray<number>
    readonly idealPerSecond: number
  }>
  const p8 = cases.find((c) => c.case.id === "p8w8")
  if (p8 === undefined) return undefined
  const c = p8.case
  return {
    label: `P=${c.proposals} W=${c.evaluations}, LLM ${c.llmMs} ms, eval ${c.evalMs} ms`,
    perSecond: p8.completionsPerSecond,
    ideal: p8.idealPerSecond
  }
}

export const chart = (results: BenchResults): string => {
  const ratios = results.scenarios.flatMap((s) =>
    (s.result?.figures ?? []).filter((f) => f.unit === "ratio" && f.value !== null).map((figure) => ({ figure, quick: s.result!.quick }))
  )
  const a = ratioPanel(ratios, 10)
  const series = findThroughput(results)
  const b = series === undefined ? { svg: "", height: 0 } : throughputPanel(series, 10 + a.height + 10)
  const height = 10 + a.height + 10 + b.height
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    a.svg,
    b.svg,
    `</svg>`,
    ""
  ].join("\n")
}
