/**
 * Picks the run's `Evaluator` layer by `evaluator.contract`: the command runner, or the warm
 * Python pool for the openevolve and shinka contracts and for a command that runs a Python
 * script (`WarmCommand`; `evaluator.warm_pool: false` starts it cold).
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { Effect, Layer } from "effect"
import { dirname } from "node:path"
import { ConfigError } from "../domain/Errors.js"
import type { EvaluatorConfig, RunSpec } from "../domain/RunConfig.js"
import * as Bubblewrap from "./Bubblewrap.js"
import * as CommandEvaluator from "./CommandEvaluator.js"
import type { Evaluator } from "./Evaluator.js"
import * as FindExecutable from "./FindExecutable.js"
import * as PythonEvaluator from "./PythonEvaluator.js"
import * as WarmCommand from "./WarmCommand.js"

export interface EvaluatorContext {
  /** The evaluator file given on the command line (absolute). */
  readonly evaluatorPath: string
  /** Evaluations in flight (W): the Python pool starts one worker per slot. */
  readonly slots: number
  /** Variables holding evolve's own API keys: a `pass_env` glob never passes them. */
  readonly protectedEnv?: ReadonlyArray<string> | undefined
}

/** The evaluator for an `evaluator:` config section. Fails when `sandbox: bwrap` cannot be honoured. */
export const fromConfig = (
  config: EvaluatorConfig,
  context: EvaluatorContext
): Layer.Layer<Evaluator, ConfigError, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> => {
  const common = {
    timeoutMs: config.timeout_seconds * 1000,
    killGraceMs: config.kill_grace_seconds * 1000,
    outputCapBytes: config.output_cap_bytes,
    primaryMetric: config.primary_metric,
    keepArtifacts: config.keep_artifacts,
    memoryMb: config.memory_mb,
    cpuSeconds: config.cpu_seconds,
    sandbox: config.sandbox,
    env: { env: config.env, passEnv: config.pass_env, protectedNames: context.protectedEnv ?? [] },
    workingDir: config.working_dir
  }
  if (config.contract === "command") {
    const command = config.command ?? [context.evaluatorPath]
    const cwd = dirname(context.evaluatorPath)
    return Layer.unwrapEffect(Effect.map(
      WarmCommand.plan(command, cwd, config.warm_pool),
      (plan) =>
        plan._tag === "Warm"
          ? PythonEvaluator.layer({
            ...common,
            contract: "command",
            evaluatorPath: plan.script,
            python: plan.python,
            scriptArgv: plan.argv,
            cwd,
            slots: context.slots
          })
          : Layer.provideMerge(
            CommandEvaluator.layer({ ...common, command, cwd }),
            plan.warning === undefined
              ? Layer.empty
              : Layer.effectDiscard(Effect.logWarning(`command evaluator: starting it cold per candidate: ${plan.warning}`))
          )
    ))
  }
  return PythonEvaluator.layer({
    ...common,
    contract: config.contract,
    evaluatorPath: context.evaluatorPath,
    python: config.python,
    slots: context.slots,
    warm: config.warm_pool,
    cascade: config.cascade_evaluation,
    cascadeThresholds: config.cascade_thresholds
  })
}

/** The evaluator of a run. */
export const fromSpec = (spec: RunSpec) =>
  fromConfig(spec.config.evaluator, {
    evaluatorPath: spec.evaluatorPath,
    slots: spec.config.concurrency.evaluations,
    protectedEnv: llmKeyVariables(spec.config.llm)
  })

/** The variables that hold the API keys of a run's own LLM (and embedding) clients. */
export const llmKeyVariables = (llm: RunSpec["config"]["llm"]): ReadonlyArray<string> => [
  llm.api_key_env,
  ...(llm.models ?? []).flatMap((m) => m.api_key_env === undefined ? [] : [m.api_key_env]),
  ...(llm.embedding?.api_key_env === undefined ? [] : [llm.embedding.api_key_env])
]

/**
 * What `fromConfig` would refuse, checked without starting anything (a missing `bwrap` when
 * `sandbox: bwrap`), so a CLI or server can report it as a configuration error up front.
 */
export const preflight = (config: EvaluatorConfig) =>
  Effect.gen(function*() {
    if (config.sandbox === "bwrap" && (yield* FindExecutable.findExecutable("bwrap")) === undefined) {
      return yield* new ConfigError({ path: "evaluator.sandbox", message: Bubblewrap.bwrapMissing })
    }
  })
