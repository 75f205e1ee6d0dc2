/**
 * When a run's result stops it, in words: the targets, the status each stop reason leaves the run
 * in, and the messages that tell a user why (pure; RunState applies them).
 */
import type { Failure, EvaluationOutcome } from "../domain/Program.js"
import type { MetricTarget, RunConfig } from "../domain/RunConfig.js"
import type { RunStatus } from "../domain/RunEvent.js"
import type { StopReason } from "./RunProtocol.js"

/** Whether `metrics` meets every per-metric target (a number means "at least"). */
export const meetsTargets = (metrics: Readonly<Record<string, number>>, targets: Readonly<Record<string, MetricTarget>>): boolean => {
  const entries = Object.entries(targets)
  return entries.length > 0 && entries.every(([name, target]) => {
    const v = metrics[name]
    if (typeof v !== "number" || !Number.isFinite(v)) return false
    if (typeof target === "number") return v >= target
    return (target.at_least === undefined || v >= target.at_least) && (target.at_most === undefined || v <= target.at_most)
  })
}

const describeTargets = (targets: Readonly<Record<string, MetricTarget>>) =>
  Object.entries(targets).map(([name, t]) =>
    typeof t === "number"
      ? `${name} ≥ ${t}`
      : [t.at_least !== undefined ? `${name} ≥ ${t.at_least}` : "", t.at_most !== undefined ? `${name} ≤ ${t.at_most}` : ""]
        .filter((x) => x !== "").join(", ")
  ).join(", ")

/** The target score or the metric targets, when a scored result reaches them. */
export const targetReached = (
  limits: {
    readonly targetScore: number | undefined
    readonly targetMetrics: Readonly<Record<string, MetricTarget>> | undefined
  },
  programId: string,
  outcome: EvaluationOutcome
): { readonly reason: StopReason; readonly message: string } | null => {
  if (outcome._tag !== "Scored") return null
  if (limits.targetScore !== undefined && outcome.score >= limits.targetScore) {
    return { reason: "target_score", message: `score ${outcome.score} reached the target ${limits.targetScore}` }
  }
  if (limits.targetMetrics !== undefined && meetsTargets(outcome.metrics, limits.targetMetrics)) {
    return { reason: "target_metrics", message: `program ${programId} met every metric target (${describeTargets(limits.targetMetrics)})` }
  }
  return null
}

/** Why a run stopped before any LLM call: its initial program failed, with the evaluator's output. */
export const initialFailed = (failure: Failure, feedback: string | null) =>
  `the initial program failed before any LLM call (${failure.kind}: ${failure.message}); ` +
  `fix the evaluator or the program and start a new run, or set allow_failing_initial to let the LLM fix it` +
  (feedback === null ? "" : `\n${feedback.slice(-1500)}`)

/** The most frequent failure of a streak, for stop messages ("" when there was none). */
export const mostFrequent = (streak: Readonly<Record<string, { readonly count: number; readonly message: string }>>) => {
  const top = Object.entries(streak).sort((a, b) => b[1].count - a[1].count)[0]
  return top === undefined ? "" : `; most frequent: ${top[0]} (${top[1].count}×): ${top[1].message}`
}

const statusFor: Record<StopReason, RunStatus> = {
  max_evaluations: "completed",
  target_score: "completed",
  patience: "completed",
  target_metrics: "completed",
  budget_usd: "completed",
  wall_clock: "completed",
  interrupted: "interrupted",
  proposal_failures: "failed",
  database_error: "failed",
  internal_error: "failed",
  initial_failed: "failed",
  proposal_limit: "completed",
  // Another process took the run over (this one was presumed dead): the run goes on there.
  lease_lost: "interrupted"
}

export const statusOf = (reason: StopReason): RunStatus => statusFor[reason]

/** The rules a run is held to; they change only by message (Extend, SetConcurrency). */
export interface RunLimits {
  readonly maxEvaluations: number
  /** Proposals (LLM calls) in flight, and evaluations in flight. */
  readonly proposals: number
  readonly evaluations: number
  /** Candidates that may wait for an evaluation slot before proposals hold back. */
  readonly queue: number
  readonly maxConsecutiveProposalFailures: number
  /** Proposals allowed beyond the evaluations a session has left, as a share of them (plus one round of P). */
  readonly proposalMargin: number
  readonly allowFailingInitial: boolean
  readonly budgetUsd: number | undefined
  readonly targetScore: number | undefined
  readonly targetMetrics: Readonly<Record<string, MetricTarget>> | undefined
  readonly patience: number | undefined
}

export const limitsFromConfig = (config: RunConfig): RunLimits => ({
  maxEvaluations: config.max_evaluations,
  proposals: config.concurrency.proposals,
  evaluations: config.concurrency.evaluations,
  queue: config.concurrency.queue ?? config.concurrency.evaluations,
  maxConsecutiveProposalFailures: config.max_consecutive_proposal_failures,
  proposalMargin: config.proposal_margin,
  allowFailingInitial: config.allow_failing_initial,
  budgetUsd: config.budget_usd,
  targetScore: config.target_score,
  targetMetrics: config.target_metrics,
  patience: config.patience
})
