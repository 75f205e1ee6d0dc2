/**
 * A run's state as one value, and the pure transitions that move it: a proposal claimed,
 * finished or failed; a candidate queued, its evaluation started and committed; the stop rules
 * and the budget. The run's owner fiber (RunActor) is the only one that applies them; everyone
 * else reads a snapshot. No I/O here, so every rule is unit-tested on plain values.
 */
import { HashSet } from "effect"
import type { PopulationEntry } from "../db/Records.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Failure, LlmUsage, Program } from "../domain/Program.js"
import type { RunStatus } from "../domain/RunEvent.js"
import type { SteeringView } from "../domain/Steering.js"
import { RunStats, type StopReason } from "./RunProtocol.js"
import * as StopRules from "./StopRules.js"
import type { RunLimits } from "./StopRules.js"

/** Recent failures shown in prompts (the weakness analysis). */
export const RECENT_FAILURES = 5

export { limitsFromConfig, type RunLimits } from "./StopRules.js"

export interface StopRequest {
  readonly reason: StopReason
  readonly message: string | null
}

export interface RunState {
  readonly runId: RunId
  readonly startedAt: number
  readonly status: RunStatus
  readonly limits: RunLimits
  /** Evaluations finished, earlier sessions included. */
  readonly evaluations: number
  readonly scored: number
  /** Evaluations finished plus candidates pending plus proposals underway: what the maximum bounds. */
  readonly claimed: number
  readonly failuresByKind: Readonly<Record<string, number>>
  /** The latest message of each failure kind this session (seeded from the stored recent ones). */
  readonly lastFailures: Readonly<Record<string, string>>
  /** The latest failures, oldest first (at most RECENT_FAILURES). */
  readonly recentFailures: ReadonlyArray<Failure>
  readonly best: PopulationEntry | undefined
  /** Evaluations since the best score last improved (the patience counter). */
  readonly sinceBest: number
  readonly consecutiveProposalFailures: number
  /** The failures of the current streak by kind, with the latest message of each (duplicates left out). */
  readonly streak: Readonly<Record<string, { readonly count: number; readonly message: string }>>
  /** LLM proposals made in this session, and the evaluations claimed when it started. */
  readonly proposalsMade: number
  readonly claimedAtStart: number
  /** The initial program is being evaluated and no LLM call is made until it has a result. */
  readonly awaitingInitial: boolean
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
  /** LLM calls accounted in this session (for the mean cost of the next one). */
  readonly llmCalls: number
  /** Expected USD of one LLM call before any was made. */
  readonly firstCallUsd: number
  /** USD reserved by proposals underway (for `budget_usd`). */
  readonly reservedUsd: number
  /** Proposals claimed and not finished (waiting for a shared permit included). */
  readonly proposing: number
  /** Evaluations started and not finished (waiting for a shared permit included). */
  readonly evaluating: number
  /** Candidates stored as pending and waiting for an evaluation slot, oldest first. */
  readonly ready: ReadonlyArray<Program>
  /** Normalised code hashes of every candidate kept (duplicates are rejected). */
  readonly hashes: HashSet.HashSet<string>
  /** Proposals numbered in this session (each draws from its own random stream). */
  readonly proposalNumber: number
  /** What a person set: guidance, pinned and banned parents, model weights (issue 17). */
  readonly steering: SteeringView
  readonly stop: StopRequest | null
}

/** What a run starts from: nothing (a new run) or what the database kept (a resumed one). */
export type Start =
  & Pick<
    RunState,
    | "runId"
    | "startedAt"
    | "limits"
    | "evaluations"
    | "scored"
    | "failuresByKind"
    | "recentFailures"
    | "best"
    | "sinceBest"
    | "inputTokens"
    | "outputTokens"
    | "usd"
    | "firstCallUsd"
    | "steering"
  >
  & { readonly pending: number; readonly hashes: Iterable<string> }

export const initial = ({ hashes, pending, ...start }: Start): RunState => ({
  ...start,
  status: "running",
  claimed: start.evaluations + pending,
  claimedAtStart: start.evaluations + pending,
  recentFailures: start.recentFailures.slice(-RECENT_FAILURES),
  lastFailures: Object.fromEntries(start.recentFailures.map((f) => [f.kind, f.message])),
  consecutiveProposalFailures: 0,
  streak: {},
  proposalsMade: 0,
  awaitingInitial: false,
  llmCalls: 0,
  reservedUsd: 0,
  proposing: 0,
  evaluating: 0,
  ready: [],
  hashes: HashSet.fromIterable(hashes),
  proposalNumber: 0,
  stop: start.evaluations >= start.limits.maxEvaluations ? { reason: "max_evaluations", message: null } : null
})

// ---- stop rules -----------------------------------------------------------------------------

/** The first stop requested wins; later ones are ignored. */
export const requestStop = (state: RunState, reason: StopReason, message: string | null = null): RunState =>
  state.stop !== null ? state : { ...state, stop: { reason, message } }

// ---- proposals --------------------------------------------------------------------------------

/** Expected USD of the next LLM call: the mean so far in this session, else the first-call estimate. */
const nextCallUsd = (state: RunState) => state.llmCalls > 0 ? state.usd / state.llmCalls : state.firstCallUsd

/** Proposals holding a proposal slot: calling the LLM, or holding a candidate the queue has no room for. */
const proposalSlotsUsed = (state: RunState) =>
  state.proposing + Math.max(0, state.ready.length - state.limits.queue)

/** LLM proposals a session may make: the evaluations it had left, plus the margin, plus one round of P. */
const proposalAllowance = (state: RunState) =>
  Math.ceil(Math.max(0, state.limits.maxEvaluations - state.claimedAtStart) * (1 + state.limits.proposalMargin)) +
  state.limits.proposals


export type ProposalDecision =
  | { readonly _tag: "Propose"; readonly reserveUsd: number }
  | { readonly _tag: "Wait" }
  | { readonly _tag: "Stop"; readonly reason: StopReason; readonly message: string }

/**
 * Whether a new proposal may start now. Under `budget_usd` a proposal reserves the expected
 * cost of its call; when committed plus reserved cost leaves no room, it waits for the calls
 * underway, and when none is underway the run stops.
 */
export const proposalDecision = (state: RunState): ProposalDecision => {
  if (state.stop !== null || state.claimed >= state.limits.maxEvaluations || state.awaitingInitial) return { _tag: "Wait" }
  if (state.proposalsMade >= proposalAllowance(state)) {
    if (state.proposing > 0 || state.ready.length > 0 || state.evaluating > 0) return { _tag: "Wait" }
    return {
      _tag: "Stop",
      reason: "proposal_limit",
      message: `${state.proposalsMade} LLM proposals made for ${state.limits.maxEvaluations - state.claimedAtStart} evaluations ` +
        `(proposal_margin ${state.limits.proposalMargin})${StopRules.mostFrequent(state.streak)}`
    }
  }
  if (proposalSlotsUsed(state) >= state.limits.proposals) return { _tag: "Wait" }
  const budget = state.limits.budgetUsd
  if (budget === undefined) return { _tag: "Propose", reserveUsd: 0 }
  const next = nextCallUsd(state)
  if (state.usd + state.reservedUsd + next <= budget) return { _tag: "Propose", reserveUsd: next }
  if (state.proposing > 0) return { _tag: "Wait" }
  return {
    _tag: "Stop",
    reason: "budget_usd",
    message: `LLM cost $${state.usd.toFixed(4)} leaves no room for another call under the budget of $${budget}`
  }
}

export const proposalStarted = (state: RunState, reserveUsd: number): RunState => ({
  ...state,
  claimed: state.claimed + 1,
  proposing: state.proposing + 1,
  proposalsMade: state.proposalsMade + 1,
  reservedUsd: state.reservedUsd + reserveUsd,
  proposalNumber: state.proposalNumber + 1
})

/** A proposal ended (any outcome): its slot and its reservation are free again. */
const proposalEnded = (state: RunState, reservedUsd: number): RunState => ({
  ...state,
  proposing: state.proposing - 1,
  reservedUsd: Math.max(0, state.reservedUsd - reservedUsd)
})

/** An LLM call's tokens and cost; the budget stop once the committed cost reaches it. */
export const llmUsed = (state: RunState, usage: Pick<LlmUsage, "inputTokens" | "outputTokens" | "usd">): RunState => {
  const next: RunState = {
    ...state,
    llmCalls: state.llmCalls + 1,
    inputTokens: state.inputTokens + usage.inputTokens,
    outputTokens: state.outputTokens + usage.outputTokens,
    usd: state.usd + usage.usd
  }
  const budget = next.limits.budgetUsd
  return budget !== undefined && next.usd >= budget
    ? requestStop(next, "budget_usd", `LLM cost $${next.usd.toFixed(4)} reached the budget of $${budget}`)
    : next
}

export const isDuplicate = (state: RunState, codeHash: string) => HashSet.has(state.hashes, codeHash)

/** A proposal became a pending candidate: stored, and waiting for an evaluation slot. */
export const candidateQueued = (state: RunState, program: Program, reservedUsd: number): RunState => ({
  ...proposalEnded(state, reservedUsd),
  consecutiveProposalFailures: 0,
  streak: {},
  hashes: HashSet.add(state.hashes, program.codeHash),
  ready: [...state.ready, program]
})

const countFailure = (state: RunState, failure: Failure): RunState => ({
  ...state,
  failuresByKind: { ...state.failuresByKind, [failure.kind]: (state.failuresByKind[failure.kind] ?? 0) + 1 },
  lastFailures: { ...state.lastFailures, [failure.kind]: failure.message },
  recentFailures: [...state.recentFailures, failure].slice(-RECENT_FAILURES)
})

/**
 * A proposal that yields no candidate (LLM error, patch, validation, duplicate): its claim is
 * given back. A duplicate says nothing about the model, so it neither ends nor extends a streak.
 */
export const proposalFailed = (state: RunState, failure: Failure, reservedUsd: number): RunState => {
  const failed = countFailure(proposalEnded(state, reservedUsd), failure)
  if (failure.kind === "duplicate") return { ...failed, claimed: failed.claimed - 1 }
  const next: RunState = {
    ...failed,
    claimed: failed.claimed - 1,
    consecutiveProposalFailures: failed.consecutiveProposalFailures + 1,
    streak: { ...failed.streak, [failure.kind]: { count: (failed.streak[failure.kind]?.count ?? 0) + 1, message: failure.message } }
  }
  return next.consecutiveProposalFailures >= next.limits.maxConsecutiveProposalFailures
    ? requestStop(next, "proposal_failures", `${next.consecutiveProposalFailures} proposals failed in a row${StopRules.mostFrequent(next.streak)}`)
    : next
}

/** A proposal that made no call (every model's breaker open): nothing counted, its claim given back. */
export const proposalAbandoned = (state: RunState, reservedUsd: number): RunState => {
  const ended = proposalEnded(state, reservedUsd)
  return { ...ended, claimed: ended.claimed - 1, proposalsMade: ended.proposalsMade - 1 }
}

// ---- evaluations ------------------------------------------------------------------------------

/** The next candidate to evaluate, when an evaluation slot is free and the run is not stopping. */
export const nextEvaluation = (state: RunState): readonly [RunState, Program] | undefined => {
  if (state.stop !== null || state.ready.length === 0 || state.evaluating >= state.limits.evaluations) return undefined
  const [program, ...rest] = state.ready
  return [{ ...state, ready: rest, evaluating: state.evaluating + 1 }, program!]
}

/** Puts candidates (the initial program, or those pending on resume) first in the evaluation queue. */
export const enqueueFirst = (state: RunState, programs: ReadonlyArray<Program>): RunState => ({
  ...state,
  ready: [...programs, ...state.ready],
  hashes: programs.reduce((hashes, p) => (p.codeHash === "" ? hashes : HashSet.add(hashes, p.codeHash)), state.hashes)
})

/** The initial program is queued and nothing was ever scored: no LLM call until it has a result. */
export const awaitInitial = (state: RunState): RunState => ({ ...state, awaitingInitial: true })

/** A claim for a candidate stored outside a proposal (the initial program of a new run): it needs no LLM call. */
export const claimed = (state: RunState, n = 1): RunState => ({
  ...state,
  claimed: state.claimed + n,
  claimedAtStart: state.claimedAtStart + n
})

/** An evaluation whose result was not committed (the candidate was no longer pending). */
export const evaluationDropped = (state: RunState): RunState => ({ ...state, evaluating: state.evaluating - 1 })

/**
 * A committed evaluation: counters, the best program, the patience counter, and the stop rules
 * it can trigger (target score, metric targets, patience, the maximum).
 */
export const evaluationCommitted = (state: RunState, program: Program, outcome: EvaluationOutcome): RunState => {
  let next: RunState = { ...state, evaluating: state.evaluating - 1, evaluations: state.evaluations + 1 }
  const limits = next.limits
  if (outcome._tag === "Scored") {
    next = { ...next, scored: next.scored + 1 }
    if (next.best === undefined || outcome.score > next.best.score) {
      next = {
        ...next,
        best: { id: program.id, score: outcome.score, island: program.island, generation: program.generation },
        sinceBest: 0
      }
    }
    const target = StopRules.targetReached(limits, program.id, outcome)
    if (target !== null) next = requestStop(next, target.reason, target.message)
  } else {
    next = countFailure(next, outcome.failure)
  }
  if (next.best?.id !== program.id) next = { ...next, sinceBest: next.sinceBest + 1 }
  if (limits.patience !== undefined && next.sinceBest >= limits.patience) {
    next = requestStop(next, "patience", `no improvement of the best score in ${next.sinceBest} evaluations`)
  }
  if (program.parentId === null && next.awaitingInitial) {
    next = { ...next, awaitingInitial: false }
    if (outcome._tag === "Failed" && !limits.allowFailingInitial) {
      next = requestStop(next, "initial_failed", StopRules.initialFailed(outcome.failure, outcome.feedback))
    }
  }
  if (next.evaluations >= limits.maxEvaluations) next = requestStop(next, "max_evaluations")
  return next
}

/** Whether the best program changed between two states (a NewBest event). */
export const newBest = (before: RunState, after: RunState): PopulationEntry | undefined =>
  after.best !== undefined && after.best.id !== before.best?.id ? after.best : undefined

// ---- messages ---------------------------------------------------------------------------------

/** A new maximum of evaluations; one already reached stops the run. */
export const extend = (state: RunState, maxEvaluations: number): RunState => {
  const next = { ...state, limits: { ...state.limits, maxEvaluations } }
  return next.evaluations >= maxEvaluations ? requestStop(next, "max_evaluations") : next
}

export const setConcurrency = (state: RunState, change: { readonly proposals?: number | undefined; readonly evaluations?: number | undefined }): RunState => ({
  ...state,
  limits: {
    ...state.limits,
    proposals: change.proposals ?? state.limits.proposals,
    evaluations: change.evaluations ?? state.limits.evaluations
  }
})

/** Stopping: no new proposals; the candidates waiting for a slot stay pending in the database. */
export const stopping = (state: RunState): RunState => ({ ...state, status: "stopping", ready: [] })

/** Nothing underway any more that the run must wait for. */
export const drained = (state: RunState) => state.evaluating === 0

// ---- the outcome ------------------------------------------------------------------------------

export const finished = (state: RunState, stop: StopRequest): RunState => ({ ...state, status: StopRules.statusOf(stop.reason), stop })

/** Workers holding their slot (the stats' "in flight"), counted by the workers themselves. */
export interface Activity {
  proposals: number
  evaluations: number
}

export const stats = (state: RunState, now: number, active: Activity = { proposals: 0, evaluations: 0 }): RunStats =>
  new RunStats({
    runId: state.runId,
    status: state.status,
    elapsedMs: now - state.startedAt,
    evaluations: state.evaluations,
    maxEvaluations: state.limits.maxEvaluations,
    scored: state.scored,
    failuresByKind: state.failuresByKind,
    lastFailures: state.lastFailures,
    bestScore: state.best?.score ?? null,
    bestProgramId: (state.best?.id ?? null) as ProgramId | null,
    inFlightProposals: active.proposals,
    inFlightEvaluations: active.evaluations,
    // Candidates beyond the queue's capacity are held by their proposals (they count as proposing).
    queued: Math.min(state.ready.length, state.limits.queue),
    inputTokens: state.inputTokens,
    outputTokens: state.outputTokens,
    usd: state.usd,
    concurrency: { proposals: state.limits.proposals, evaluations: state.limits.evaluations },
    stopReason: state.stop?.reason ?? null,
    stopMessage: state.stop?.message ?? null
  }, { disableValidation: true })
