import { Context, type Effect } from "effect"
import type { EvaluationOutcome } from "../domain/Program.js"
import type { EnvSettings } from "./ConfiguredEnv.js"

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

/** Limits and housekeeping every evaluator contract applies to each candidate. */
export interface CandidateLimits {
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
  /** Address-space limit (RLIMIT_AS) of the evaluator process, in MiB. */
  readonly memoryMb?: number | undefined
  /** CPU-time limit (RLIMIT_CPU) of the evaluator process, in seconds. */
  readonly cpuSeconds?: number | undefined
  /** "bwrap": run inside bubblewrap (no network, read-only filesystem, writable temp dir). */
  readonly sandbox?: "none" | "bwrap" | undefined
  /** Variables added to the evaluator's environment (`evaluator.env`, `evaluator.pass_env`). */
  readonly env?: EnvSettings | undefined
  /**
   * The evaluator's working directory: "evaluator" (default: its file's directory, as OpenEvolve
   * runs it) or "candidate" (the candidate's temp dir). The candidate file is in its temp dir either way.
   */
  readonly workingDir?: "evaluator" | "candidate" | undefined
}

export interface CommandEvaluatorOptions extends CandidateLimits {
  /** Command and arguments; the candidate's absolute path is appended as the last argument. */
  readonly command: ReadonlyArray<string>
  /** Working directory of the evaluator process (the evaluator file's directory). */
  readonly cwd: string
}

/**
 * The contracts of the warm Python pool: an OpenEvolve `evaluate(program_path)` module, a Shinka
 * `evaluate.py`, or a `command` evaluator that is a Python script, started warm (`WarmCommand`).
 */
export type PythonContract = "openevolve" | "shinka" | "command"

export interface PythonEvaluatorOptions extends CandidateLimits {
  readonly contract: PythonContract
  /** The evaluator file (evaluator.py / evaluate.py); its directory is the working directory. */
  readonly evaluatorPath: string
  /** Python interpreter (default "python3"). */
  readonly python?: string | undefined
  /** Worker processes, one per concurrent evaluation (the run's W). */
  readonly slots: number
  /**
   * true (default): each worker imports the evaluator once and forks a child per candidate.
   * false: a fresh worker per candidate (cold start; edits to the evaluator are picked up).
   */
  readonly warm?: boolean | undefined
  /** openevolve: run evaluate_stage1/2/3 as a cascade when the module defines them (default true). */
  readonly cascade?: boolean | undefined
  /** Stage k+1 runs only when stage k's score reaches thresholds[k-1] (missing: always runs). */
  readonly cascadeThresholds?: ReadonlyArray<number> | undefined
  /**
   * command: what the script sees as `sys.argv` before the candidate's path, as the cold command
   * line gives it (argv[0] is the script as named there).
   */
  readonly scriptArgv?: ReadonlyArray<string> | undefined
  /** Working directory of the evaluation (default: the evaluator file's directory). */
  readonly cwd?: string | undefined
  /** How long a worker may take to import the evaluator (default: the timeout plus 30 s). */
  readonly startTimeoutMs?: number | undefined
}
