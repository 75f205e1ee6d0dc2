import { Context, type Effect } from "effect"
import type { EvaluationOutcome } from "../domain/Program.js"

/** One candidate to evaluate: plain, serializable data (a persisted queue may carry it later). */
export interface EvaluationRequest {
  readonly programId: string
  readonly code: string
  /** File extension for the candidate file, with the dot (".py", ".mjs"). */
  readonly extension: string
}

/**
 * Scores candidates. `evaluate` never fails: a crashed, hung or misbehaving evaluator is an
 * `EvaluationOutcome` of tag "Failed" with a failure kind and message, so the run goes on.
 */
export class Evaluator extends Context.Tag("evolve/Evaluator")<Evaluator, {
  readonly evaluate: (request: EvaluationRequest) => Effect.Effect<EvaluationOutcome>
}>() {}

export interface CommandEvaluatorOptions {
  /** Command and arguments; the candidate's absolute path is appended as the last argument. */
  readonly command: ReadonlyArray<string>
  /** Working directory of the evaluator process (the evaluator file's directory). */
  readonly cwd: string
  readonly timeoutMs: number
  /** After SIGTERM at the timeout, how long before SIGKILL to the whole process group. */
  readonly killGraceMs: number
  /** stdout or stderr beyond this many bytes kills the evaluator ("output_limit"). */
  readonly outputCapBytes: number
  /** Fitness metric when the evaluator reports no `combined_score`. */
  readonly primaryMetric: string
  /** Keep each candidate's temp dir instead of removing it. */
  readonly keepArtifacts: boolean
  /** Parent directory for per-candidate temp dirs (defaults to the OS temp dir). */
  readonly tempRoot?: string | undefined
}
