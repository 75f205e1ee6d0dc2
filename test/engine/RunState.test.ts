import { describe, expect, it } from "vitest"
import { RunId } from "../../src/domain/Ids.js"
import type { EvaluationOutcome, Program } from "../../src/domain/Program.js"
import { emptySteering } from "../../src/domain/Steering.js"
import * as RunState from "../../src/engine/RunState.js"
import * as StopRules from "../../src/engine/StopRules.js"
import { program } from "../support/runFixtures.js"

const limits: RunState.RunLimits = {
  maxEvaluations: 10,
  proposals: 2,
  evaluations: 1,
  queue: 1,
  maxConsecutiveProposalFailures: 3,
  proposalMargin: 1,
  allowFailingInitial: false,
  budgetUsd: undefined,
  targetScore: undefined,
  targetMetrics: undefined,
  patience: undefined
}

const fresh = (over: Partial<RunState.RunLimits> = {}, start: Partial<RunState.Start> = {}) =>
  RunState.initial({
    runId: RunId.make("run_x"),
    startedAt: 1000,
    limits: { ...limits, ...over },
    evaluations: 0,
    scored: 0,
    pending: 0,
    failuresByKind: {},
    recentFailures: [],
    best: undefined,
    sinceBest: 0,
    inputTokens: 0,
    outputTokens: 0,
    usd: 0,
    firstCallUsd: 0,
    hashes: [],
    steering: emptySteering,
    ...start
  })

const candidate = (id: string, hash = `h-${id}`): Program => ({ ...program({ id, runId: RunId.make("run_x") }), codeHash: hash })
const scored = (score: number, metrics: Record<string, number> = {}): EvaluationOutcome => ({
  _tag: "Scored",
  metrics: { score, ...metrics },
  score,
  feedback: null,
  durationMs: 1
})
const failed: EvaluationOutcome = { _tag: "Failed", failure: { kind: "timeout", message: "slow" }, feedback: null, durationMs: 1 }

/** Proposes, queues and evaluates one candidate with `outcome`. */
const throughOne = (state: RunState.RunState, id: string, outcome: EvaluationOutcome) => {
  let s = RunState.proposalStarted(state, 0)
  s = RunState.candidateQueued(s, candidate(id), 0)
  const next = RunState.nextEvaluation(s)!
  return RunState.evaluationCommitted(next[0], next[1], outcome)
}

describe("RunState", () => {
  it("starts proposals up to P, then holds back while candidates wait beyond the queue", () => {
    let s = fresh()
    expect(RunState.proposalDecision(s)).toEqual({ _tag: "Propose", reserveUsd: 0 })
    s = RunState.proposalStarted(s, 0)
    s = RunState.proposalStarted(s, 0)
    expect(RunState.proposalDecision(s)._tag).toBe("Wait")
    // Two candidates back, one queue slot: the second is held by its proposal slot.
    s = RunState.candidateQueued(s, candidate("a"), 0)
    s = RunState.candidateQueued(s, candidate("b"), 0)
    expect(s.proposing).toBe(0)
    expect(RunState.proposalDecision(s)._tag).toBe("Propose")
    s = RunState.proposalStarted(s, 0)
    expect(RunState.proposalDecision(s)._tag).toBe("Wait")
    expect(RunState.stats(s, 1500).queued).toBe(1)
    // An evaluation slot takes the oldest candidate; W = 1 admits no second.
    const [taken, first] = RunState.nextEvaluation(s)!
    expect(first.id).toBe("a")
    expect(RunState.nextEvaluation(taken)).toBeUndefined()
  })

  it("claims no more than the maximum, counting pending candidates and proposals underway", () => {
    let s = fresh({ maxEvaluations: 3, proposals: 8, queue: 8 }, { evaluations: 1, pending: 1 })
    s = RunState.proposalStarted(s, 0)
    expect(s.claimed).toBe(3)
    expect(RunState.proposalDecision(s)._tag).toBe("Wait")
    // A failed proposal gives its claim back.
    s = RunState.proposalFailed(s, { kind: "patch", message: "no match" }, 0)
    expect(RunState.proposalDecision(s)._tag).toBe("Propose")
  })

  it("rejects a hash it holds, and stops after too many proposal failures in a row", () => {
    let s = fresh({}, { hashes: ["seen"] })
    expect(RunState.isDuplicate(s, "seen")).toBe(true)
    s = RunState.candidateQueued(RunState.proposalStarted(s, 0), candidate("a", "new"), 0)
    expect(RunState.isDuplicate(s, "new")).toBe(true)
    for (let i = 0; i < 2; i++) s = RunState.proposalFailed(RunState.proposalStarted(s, 0), { kind: "llm", message: `e${i}` }, 0)
    expect(s.stop).toBeNull()
    s = RunState.candidateQueued(RunState.proposalStarted(s, 0), candidate("b"), 0) // a success resets the count
    for (let i = 0; i < 3; i++) s = RunState.proposalFailed(RunState.proposalStarted(s, 0), { kind: "llm", message: `e${i}` }, 0)
    expect(s.stop).toEqual({ reason: "proposal_failures", message: "3 proposals failed in a row; most frequent: llm (3×): e2" })
    expect(s.recentFailures.map((f) => f.message)).toEqual(["e0", "e1", "e0", "e1", "e2"])
    expect(s.failuresByKind).toEqual({ llm: 5 })
  })

  it("reserves the expected cost of a call under a budget, waits for calls underway, then stops", () => {
    let s = fresh({ budgetUsd: 0.0025, proposals: 8 }, { firstCallUsd: 0.001 })
    const first = RunState.proposalDecision(s)
    expect(first).toEqual({ _tag: "Propose", reserveUsd: 0.001 })
    s = RunState.proposalStarted(s, 0.001)
    s = RunState.proposalStarted(s, 0.001)
    // 0.002 reserved + 0.001 expected > 0.0025: wait for the calls underway.
    expect(RunState.proposalDecision(s)._tag).toBe("Wait")
    s = RunState.llmUsed(s, { inputTokens: 10, outputTokens: 5, usd: 0.001 })
    s = RunState.candidateQueued(s, candidate("a"), 0.001)
    s = RunState.llmUsed(s, { inputTokens: 10, outputTokens: 5, usd: 0.001 })
    s = RunState.candidateQueued(s, candidate("b"), 0.001)
    expect(s.reservedUsd).toBeCloseTo(0)
    expect(RunState.proposalDecision(s)).toMatchObject({ _tag: "Stop", reason: "budget_usd" })
    // Reaching the budget with committed cost stops at once.
    expect(RunState.llmUsed(s, { inputTokens: 0, outputTokens: 0, usd: 0.001 }).stop?.reason).toBe("budget_usd")
  })

  it("tracks the best program and the patience counter, and stops on the first rule that fires", () => {
    let s = fresh({ patience: 2, maxEvaluations: 100 })
    s = throughOne(s, "a", scored(1))
    expect(s.best?.id).toBe("a")
    s = throughOne(s, "b", scored(0.5))
    s = throughOne(s, "c", failed)
    expect(s.sinceBest).toBe(2)
    expect(s.stop).toEqual({ reason: "patience", message: "no improvement of the best score in 2 evaluations" })
    // A later rule does not replace the first.
    expect(RunState.requestStop(s, "interrupted").stop?.reason).toBe("patience")
    expect(s.evaluations).toBe(3)
    expect(s.scored).toBe(2)
    expect(s.evaluating).toBe(0)
  })

  it("stops at the target score, the metric targets and the maximum", () => {
    expect(throughOne(fresh({ targetScore: 2 }), "a", scored(2)).stop?.reason).toBe("target_score")
    const metrics = throughOne(fresh({ targetMetrics: { acc: { at_least: 0.9 }, ms: { at_most: 5 } } }), "a", scored(0, { acc: 0.95, ms: 4 }))
    expect(metrics.stop?.reason).toBe("target_metrics")
    expect(throughOne(fresh({ targetMetrics: { acc: 0.9 } }), "a", scored(0, { acc: 0.5 })).stop).toBeNull()
    expect(throughOne(fresh({ maxEvaluations: 1 }), "a", scored(0)).stop?.reason).toBe("max_evaluations")
    expect(StopRules.meetsTargets({ acc: Number.NaN }, { acc: 0 })).toBe(false)
  })

  it("Extend raises the maximum, or stops at once when it is already reached; SetConcurrency changes P and W", () => {
    let s = throughOne(fresh({ maxEvaluations: 5 }), "a", scored(1))
    s = RunState.extend(s, 8)
    expect(RunState.stats(s, 2000).maxEvaluations).toBe(8)
    expect(s.stop).toBeNull()
    expect(RunState.extend(s, 1).stop?.reason).toBe("max_evaluations")
    const tuned = RunState.setConcurrency(s, { proposals: 6 })
    expect(RunState.stats(tuned, 2000).concurrency).toEqual({ proposals: 6, evaluations: 1 })
  })

  it("a new run with its maximum already reached starts stopped; a stopping run starts no evaluation", () => {
    expect(fresh({ maxEvaluations: 2 }, { evaluations: 2 }).stop?.reason).toBe("max_evaluations")
    let s = RunState.candidateQueued(RunState.proposalStarted(fresh(), 0), candidate("a"), 0)
    s = RunState.requestStop(s, "interrupted", "paused")
    expect(RunState.nextEvaluation(s)).toBeUndefined()
    const stopped = RunState.finished(RunState.stopping(s), s.stop!)
    expect(stopped.status).toBe("interrupted")
    expect(RunState.stats(stopped, 1500)).toMatchObject({ queued: 0, stopReason: "interrupted", stopMessage: "paused", elapsedMs: 500 })
    expect(RunState.finished(s, { reason: "internal_error", message: "bug" }).status).toBe("failed")
  })
})
