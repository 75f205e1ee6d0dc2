import { describe, expect, it } from "vitest"
import { chart } from "../../scripts/bench/chart.js"
import { packageOf, summarizeProfile } from "../../scripts/bench/cpuProfile.js"
import { atLeast, atMost, figure, verdict } from "../../scripts/bench/protocol.js"
import type { BenchResults } from "../../scripts/bench/report.js"
import { markdownSection, table } from "../../scripts/bench/report.js"
import { percentile, steadyRate } from "../../scripts/bench/stats.js"

describe("bench statistics", () => {
  it("nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(xs, 50)).toBe(50)
    expect(percentile(xs, 99)).toBe(99)
    expect(percentile([3, 1, 2], 100)).toBe(3)
  })

  it("steady rate ignores a slow start and a tail", () => {
    // 10 completions per second from t = 2 s, after a 2 s start-up, with a straggler at the end.
    const times = [...Array.from({ length: 100 }, (_, i) => 2000 + i * 100), 30_000]
    expect(steadyRate(times)).toBeCloseTo(10, 5)
  })

  it("steady rate of completions arriving in waves", () => {
    // P = 8 proposals answered together every second: 8 per second, not 8 per wave gap.
    const waves = Array.from({ length: 30 }, (_, w) => Array.from({ length: 8 }, (_, k) => 1000 * w + k)).flat()
    expect(Math.abs(steadyRate(waves) - 8)).toBeLessThan(0.2)
  })
})

describe("bench verdicts", () => {
  it("asserts targets in full mode only", () => {
    const ratio = figure("x", "x", 0.95, "ratio", atLeast(0.97))
    expect(verdict(ratio, false)).toBe("miss")
    expect(verdict(ratio, true)).toBe("not asserted")
    expect(verdict(figure("y", "y", 1.5, "ms", atMost(2)), false)).toBe("pass")
    expect(verdict(figure("z", "z", null, "ms", atMost(5), "not available yet"), false)).toBe("n/a")
  })
})

describe("bench profile summary", () => {
  it("attributes self time to packages and evolve's folders", () => {
    expect(packageOf("file:///repo/node_modules/@effect/sql/dist/esm/x.js", "f")).toBe("@effect/sql")
    expect(packageOf("file:///repo/dist/src/engine/EvolutionRun.js", "f")).toBe("evolve:src/engine")
    expect(packageOf("", "(garbage collector)")).toBe("(garbage collector)")
    const frame = (id: number, url: string, functionName: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 }
    })
    const summary = summarizeProfile({
      nodes: [frame(1, "", "(root)"), frame(2, "file:///r/node_modules/effect/a.js", "run"), frame(3, "", "(idle)")],
      samples: [2, 2, 3, 1],
      timeDeltas: [1000, 3000, 5000, 1000]
    })
    expect(summary.totalMs).toBe(5)
    expect(summary.byPackage[0]).toEqual({ name: "effect", ms: 4, share: 0.8 })
  })
})

describe("bench report", () => {
  const results: BenchResults = {
    generatedAt: "2025-01-01T00:00:00.000Z",
    mode: "full",
    machine: { cpuModel: "cpu", cores: 2, memoryGb: 8, freeMemoryGb: 4, kernel: "6", node: "v20", loadAverage: 0.5 },
    git: { commit: "0123456789abcdef", dirty: false },
    scenarios: [{
      name: "orchestration",
      durationS: 1,
      loadAverage: { before: 0.5, after: 0.6 },
      result: {
        scenario: "orchestration",
        title: "Orchestration efficiency",
        quick: false,
        figures: [figure("o", "efficiency steady, P=8 W=8", 0.99, "ratio", atLeast(0.97))],
        details: {
          cases: [{
            case: { id: "p8w8", proposals: 8, evaluations: 8, llmMs: 1000, evalMs: 100 },
            completionsPerSecond: [0, 6, 8, 8],
            idealPerSecond: 8
          }]
        }
      }
    }, { name: "startup", durationS: 1, loadAverage: { before: 0.6, after: 0.6 }, error: "exited with 1" }]
  }

  it("renders a table, a Markdown section and an SVG chart", () => {
    expect(table(results)).toContain("0.990 ratio")
    expect(table(results)).toContain("startup: FAILED")
    expect(markdownSection(results)).toContain("| efficiency steady, P=8 W=8 | 0.990 ratio | ≥ 0.97 ratio | pass |")
    const svg = chart(results)
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg).toContain("<polyline")
  })
})
