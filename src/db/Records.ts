/** The values the database stores and returns (no SQL here: see Rows.ts for the row mapping). */
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { LlmUsage } from "../domain/LlmUsage.js"
import type { FailureKind, Program, ProgramStatus } from "../domain/Program.js"
import type { RunSpec } from "../domain/RunConfig.js"
import type { RunStatus, SearchDecisionKind } from "../domain/RunEvent.js"

export interface RunRecord {
  readonly id: RunId
  readonly createdAt: number
  readonly updatedAt: number
  readonly status: RunStatus
  readonly stopReason: string | null
  readonly spec: RunSpec
}

/** A run with its counts, for listings. */
export interface RunOverview extends RunRecord {
  readonly evaluated: number
  /** Failed or rejected candidates (rejected ones never reached the evaluator). */
  readonly failed: number
  /** Evaluations finished, as the run counts them against its maximum: scored, or failed in the evaluator. */
  readonly evaluations: number
  readonly pending: number
  readonly bestScore: number | null
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

/** What the engine keeps in memory per scored program: enough to sample, no code. */
export interface PopulationEntry {
  readonly id: ProgramId
  readonly score: number
  readonly island: number
  readonly generation: number
}

/** What a resumed run reloads: its scored population, pending candidates, counters and usage. */
export interface StoredRun {
  readonly population: ReadonlyArray<PopulationEntry>
  readonly pending: ReadonlyArray<Program>
  /** How many times each pending candidate's evaluation was started (absent: never). */
  readonly evaluationStarts: ReadonlyMap<ProgramId, number>
  readonly codeHashes: ReadonlyArray<string>
  /** Evaluations finished (scored, or failed in the evaluator). */
  readonly evaluations: number
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly initialProgramId: ProgramId | null
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

/** What an LLM call was for: a candidate, the novelty judge, or adaptive search's meta-note (no program). */
export type LlmCallPurpose = "proposal" | "judge" | "meta_note"

/** One LLM call as stored: its accounting, what it was for, and how it ended. */
export interface LlmCallRecord extends LlmUsage {
  readonly id: string
  readonly runId: RunId
  readonly programId: ProgramId | null
  readonly purpose: LlmCallPurpose
  readonly outcome: "ok" | "error"
  readonly errorKind: string | null
  readonly errorMessage: string | null
  readonly createdAt: number
}

export interface ModelUsage {
  readonly model: string
  readonly calls: number
  readonly errors: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

/** One finished candidate of a model, for the bandit (improvement over its parent, ≤ 0 when none). */
export interface LlmOutcome {
  readonly model: string
  readonly improvement: number
  readonly usd: number
}

/** A copy of a program living on another island (ring migration). */
export interface MigrantRecord {
  readonly programId: ProgramId
  readonly island: number
  readonly origin: number
}

/** A decision of adaptive search (issue 17), numbered per run. */
/** One counted evaluation of a run, as adaptive search replays it on resume. */
export interface EvaluationRecord {
  /** The run's initial program (every island's first member). */
  readonly initial: boolean
  readonly island: number
  /** null: the evaluation failed. */
  readonly score: number | null
}

export interface SearchDecision {
  readonly seq: number
  readonly at: number
  /** The run's evaluations when it was taken. */
  readonly evaluations: number
  readonly kind: SearchDecisionKind
  readonly island: number | null
  readonly reason: string
  readonly note: string | null
}

/** A failed evaluation, for the population's fix mode. */
export interface FailedEvaluation {
  readonly id: ProgramId
  readonly island: number
  readonly generation: number
  readonly kind: FailureKind
}

/** What a resumed run's population needs besides `StoredRun`. */
export interface SearchState {
  readonly migrants: ReadonlyArray<MigrantRecord>
  /** Program id → descriptor JSON (only when asked for). */
  readonly descriptors: ReadonlyMap<string, string>
  /** The latest failed evaluations, newest last. */
  readonly failedEvaluations: ReadonlyArray<FailedEvaluation>
  /** Evaluations finished after the best program was first reached (the patience counter). */
  readonly evaluationsSinceBest: number
}

export interface ParetoObjective {
  readonly metric: string
  readonly direction: "maximize" | "minimize"
}

/** A program without its code, patch and feedback: for listings and lineage. */
export type ProgramSummary = Omit<Program, "code" | "patch" | "feedback">

export interface ProgramQuery {
  readonly offset: number
  readonly limit: number
  readonly sort: "score" | "time"
  readonly order: "asc" | "desc"
  readonly status?: ProgramStatus | undefined
  readonly island?: number | undefined
}

export interface ProgramPage {
  readonly total: number
  readonly items: ReadonlyArray<ProgramSummary>
}

export interface Lineage {
  /** From the root (the initial program) down to the program's parent. */
  readonly ancestors: ReadonlyArray<ProgramSummary>
  readonly program: ProgramSummary
  readonly children: ReadonlyArray<ProgramSummary>
}

/** One finished evaluation, for a score-over-time plot. */
export interface ScorePoint {
  readonly programId: ProgramId
  readonly at: number
  readonly score: number | null
  readonly status: ProgramStatus
}

/** A RunEvent as stored: numbered per run (the SSE event id), the event itself as JSON. */
export interface StoredEventRow {
  readonly runId: RunId
  readonly seq: number
  readonly at: number
  readonly type: string
  readonly data: string
}

/** Failure kinds that happen after a candidate reached the evaluator (they count as evaluations). */
export const evaluationFailureKinds: ReadonlyArray<FailureKind> = ["evaluator_error", "timeout", "output_limit", "bad_metrics"]

/** Who holds a run's lease, and its last heartbeat. */
export interface RunLeaseRecord {
  readonly owner: string
  readonly heartbeatAt: number
}

/** One exchange of a proposal with the LLM: the prompt sent and the answer (null when the call failed). */
export interface Transcript {
  readonly programId: string
  readonly runId: string
  readonly attempt: number
  readonly model: string | null
  readonly system: string
  readonly user: string
  readonly response: string | null
  readonly createdAt: number
}
