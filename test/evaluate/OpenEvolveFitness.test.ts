import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as MetricsReport from "../../src/evaluate/MetricsReport.js"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"

const options = { source: "metrics", primaryMetric: "score" }

describe("fitness without combined_score", () => {
  it("the openevolve fallback averages the numeric metrics (booleans as 1/0), as OpenEvolve's get_fitness_score", () => {
    const report = MetricsReport.fromFields(
      { accuracy: 0.5, speed: 2, passed: true, label: "text", nested: { x: 1 } },
      { ...options, fallback: "average" }
    )
    expect(report).toMatchObject({ _tag: "Scored", score: 3.5 / 3, averaged: ["accuracy", "speed", "passed"] })
    expect(MetricsReport.fromFields({ accuracy: 0.5, score: 0.1 }, { ...options, fallback: "average" }))
      .toMatchObject({ _tag: "Scored", score: 0.1 })
    expect(MetricsReport.fromFields({ label: "x" }, { ...options, fallback: "average" }))
      .toMatchObject({ _tag: "Failed", failure: { kind: "bad_metrics" } })
    // Other contracts keep the strict rule.
    expect(MetricsReport.fromFields({ accuracy: 0.5 }, options)).toMatchObject({ _tag: "Failed", failure: { kind: "bad_metrics" } })
  })

  it.scopedLive("the openevolve contract scores the average and warns once, naming the metrics", () => {
    const logged: Array<string> = []
    const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => {
      logged.push(Array.isArray(message) ? message.join(" ") : String(message))
    }))
    return withPythonEvaluator({
      "evaluator.py": `
def evaluate(program_path):
    ns = {}
    exec(open(program_path).read(), ns)
    return ns["METRICS"]
`
    }, { timeoutMs: 10_000 }, (evaluate) =>
      Effect.gen(function*() {
        const first = expectScored(yield* evaluate(`METRICS = {"snr": 3.0, "latency": 1.0, "name": "lp"}\n`))
        expect(first.score).toBe(2)
        expect(first.metrics).toEqual({ snr: 3, latency: 1 })
        expect(expectScored(yield* evaluate(`METRICS = {"snr": 5.0, "latency": 1.0}\n`)).score).toBe(3)
        expectFailed(yield* evaluate(`METRICS = {"name": "none numeric"}\n`), "bad_metrics")
        const warnings = logged.filter((line) => line.includes("average"))
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toMatch(/neither combined_score nor score; the score is the average of snr, latency, as OpenEvolve does/)
      })).pipe(Effect.provide(capture))
  })
})
