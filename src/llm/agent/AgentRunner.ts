/**
 * How the `agent` provider starts a coding agent's process: a service the host provides
 * (`evaluate/AgentProcess.layer`, which contains the agent like an evaluator). Where none is
 * provided, every agent call fails with a reason.
 */
import { Context, Data, Effect } from "effect"

/** How the agent's process ended, as seen from the outside. */
export type AgentEnding =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: string }
  | { readonly _tag: "OutputLimit"; readonly stream: "stdout" | "stderr" }
  | { readonly _tag: "TimedOut" }

export interface AgentRun {
  /** The agent's command line, its program first. */
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  /** The call's scratch dir: the only place it may write under bubblewrap; also marks its processes. */
  readonly scratch: string
  /** Variables the config gives the agent (`env`) or lets through from evolve's environment (`pass_env`). */
  readonly env: Readonly<Record<string, string>>
  readonly passEnv: ReadonlyArray<string>
  /** Variables a `pass_env` glob must not match (evolve's own LLM keys). */
  readonly protectedEnv: ReadonlyArray<string>
  /** Further variables of this call (EVOLVE_PROGRAM, …). */
  readonly callEnv: Readonly<Record<string, string>>
  /** Written to the agent's stdin (undefined: empty stdin). */
  readonly stdin: string | undefined
  readonly timeoutMs: number
  readonly outputCapBytes: number
  readonly sandbox: "none" | "bwrap"
}

export interface AgentResult {
  readonly ending: AgentEnding
  readonly stdout: string
  readonly stderr: string
}

/** The agent could not be started (not installed, bubblewrap missing, no runner here). */
export class AgentStartError extends Data.TaggedError("AgentStartError")<{ readonly message: string }> {}

export class AgentRunner extends Context.Reference<AgentRunner>()("evolve/AgentRunner", {
  defaultValue: (): { readonly run: (run: AgentRun) => Effect.Effect<AgentResult, AgentStartError> } => ({
    run: () => Effect.fail(new AgentStartError({ message: "this process has no runner for coding agents (provider agent)" }))
  })
}) {}
