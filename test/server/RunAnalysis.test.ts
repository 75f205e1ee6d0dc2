import { describe, expect, it } from "vitest"
import type { ProgramFacts } from "../../src/db/ExploreQueries.js"
import * as RunAnalysis from "../../src/server/RunAnalysis.js"

const fact = (f: Partial<ProgramFacts> & { id: string }): ProgramFacts => ({
  parentId: null,
  island: 0,
  generation: 0,
  status: "evaluated",
  score: null,
  failureKind: null,
  createdAt: 0,
  llmLatencyMs: null,
  evaluatedAt: null,
  evalMs: null,
  model: null,
  usd: null,
  ...f
})

/** A candidate whose LLM call ran [llm0, stored], then waited, then was evaluated [eval0, eval1]. */
const candidate = (id: string, llm0: number, stored: number, eval0: number, eval1: number, score = 0.5) =>
  fact({ id, model: "m", llmLatencyMs: stored - llm0, createdAt: stored, evaluatedAt: eval1, evalMs: eval1 - eval0, score })

describe("the throughput timeline", () => {
  it("reconstructs slot occupancy and queue depth from stored times", () => {
    const facts = [candidate("a", 0, 1000, 1000, 2000), candidate("b", 500, 1500, 2000, 3000)]
    const t = RunAnalysis.timeline(facts, { proposals: 2, evaluations: 1 }, 6, undefined)
    expect([t.start, t.end, t.bucketMs]).toEqual([0, 3000, 500])
    expect(t.llm).toEqual([1, 2, 1, 0, 0, 0])
    expect(t.evaluation).toEqual([0, 0, 1, 1, 1, 1])
    expect(t.queued).toEqual([0, 0, 0, 1, 0, 0]) // b waited from 1500 to 2000 for the one evaluator
    expect(t.completed).toEqual([0, 0, 0, 0, 1, 1]) // a bucket holds [start, end): 2000 opens the fifth
    expect(t.utilization).toEqual({ llm: 2000 / (2 * 3000), evaluation: 2000 / 3000 })
    expect(t.meanQueued).toBeCloseTo(500 / 3000)
  })

  it("names the evaluator when its slots stay busy and candidates queue", () => {
    // One evaluator busy all the time, the LLM fast: a growing queue.
    const facts = Array.from({ length: 10 }, (_, i) => candidate(`p${i}`, i * 10, i * 10 + 10, i * 1000, i * 1000 + 1000))
    const t = RunAnalysis.timeline(facts, { proposals: 4, evaluations: 1 }, 50, undefined)
    expect(t.utilization.evaluation).toBeGreaterThan(0.95)
    expect(t.bottleneck).toBe("evaluator")
  })

  it("names the LLM when its slots stay busy while evaluators wait", () => {
    // Two LLM slots busy back to back, each candidate evaluated at once in 100 ms of 4 slots.
    const facts = Array.from({ length: 20 }, (_, i) => {
      const stored = 1000 * (Math.floor(i / 2) + 1)
      return candidate(`p${i}`, stored - 1000, stored, stored, stored + 100)
    })
    const t = RunAnalysis.timeline(facts, { proposals: 2, evaluations: 4 }, 50, undefined)
    expect(t.utilization.llm).toBeGreaterThan(0.9)
    expect(t.bottleneck).toBe("llm")
  })

  it("counts a pending candidate as queued until now, and knows nothing from nothing", () => {
    const t = RunAnalysis.timeline([fact({ id: "a", status: "pending", createdAt: 1000 })], { proposals: 1, evaluations: 1 }, 10, 2000)
    expect(t.end).toBe(2000)
    expect(t.queued.every((q) => q === 1)).toBe(true)
    expect(t.bottleneck).toBe("unknown")
    expect(RunAnalysis.timeline([], { proposals: 1, evaluations: 1 }, 10, 5).llm).toEqual([])
  })
})

describe("the run's views", () => {
  const facts = [
    fact({ id: "root", score: 0.1, evaluatedAt: 10 }),
    fact({ id: "a", parentId: "root", generation: 1, score: 0.3, evaluatedAt: 20, island: 1 }),
    fact({ id: "b", parentId: "a", generation: 2, score: 0.9, evaluatedAt: 30, island: 1 }),
    fact({ id: "c", parentId: "b", generation: 3, status: "failed", failureKind: "patch", island: 1 }),
    fact({ id: "d", parentId: "b", generation: 3, score: 0.2, evaluatedAt: 40, island: 1 })
  ]

  it("finds the path to the best program and serves the lineage as columns", () => {
    const l = RunAnalysis.lineage("run", facts, "all")
    expect(l.bestId).toBe("b")
    expect(l.bestPath).toEqual(["root", "a", "b"])
    expect(l.parent).toEqual([-1, 0, 1, 2, 2])
    expect(RunAnalysis.lineage("run", facts, "evaluated").id).toEqual(["root", "a", "b", "d"])
  })

  it("summarises islands: best and evaluations since it", () => {
    const islands = RunAnalysis.islands(facts, new Map([[1, 3]]))
    expect(islands).toEqual([
      { island: 0, programs: 1, evaluated: 1, failed: 0, pending: 0, best: 0.1, bestProgramId: "root", sinceImprovement: 0, migrantsIn: 0 },
      { island: 1, programs: 4, evaluated: 3, failed: 1, pending: 0, best: 0.9, bestProgramId: "b", sinceImprovement: 1, migrantsIn: 3 }
    ])
  })

  it("serves a score curve with the best so far", () => {
    expect(RunAnalysis.curve(0, RunAnalysis.finished(facts)).map((p) => p.best)).toEqual([0.1, 0.3, 0.9, 0.9])
  })
})
