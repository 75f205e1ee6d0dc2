import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as NodePath from "node:path"
import { inspect } from "node:util"
import { EvaluatorConfig } from "../../src/domain/RunConfig.js"
import * as CommandEvaluator from "../../src/evaluate/CommandEvaluator.js"
import * as ConfiguredEnv from "../../src/evaluate/ConfiguredEnv.js"
import * as EvaluatorLive from "../../src/evaluate/EvaluatorLive.js"
import { type CommandEvaluatorOptions, Evaluator, type PythonEvaluatorOptions } from "../../src/evaluate/Evaluator.js"
import { expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"
import { fixtureDir } from "../support/processFixtures.js"

/** Variables of this process the tests pass on (or must not). */
const parent = {
  DATA_ROOT: "/data/root",
  DATA_SPLIT: "test",
  CUDA_VISIBLE_DEVICES: "1",
  MY_LLM_KEY: "sk-llm-secret",
  EVAL_API_KEY: "sk-eval",
  EVOLVE_TOKEN: "server-token-value"
}
const settings: ConfiguredEnv.EnvSettings = {
  env: { EVAL_TASK_NAME: "task-7", DATA_SPLIT: "fixed wins" },
  passEnv: ["DATA_*", "CUDA_VISIBLE_DEVICES", "*_KEY", "EVOLVE_*"],
  protectedNames: ["MY_LLM_KEY"]
}

const withParentEnv = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Object.assign(process.env, parent)),
    () => effect,
    () => Effect.sync(() => Object.keys(parent).forEach((name) => delete process.env[name]))
  )

/** What an evaluator saw: the variables of `parent` and `settings.env`, and its working directory. */
const expectSeen = (metrics: Record<string, number>) => {
  expect(metrics).toMatchObject({ DATA_ROOT: 1, DATA_SPLIT_fixed: 1, CUDA_VISIBLE_DEVICES: 1, EVAL_API_KEY: 1, EVAL_TASK_NAME: 1 })
  expect(metrics.MY_LLM_KEY).toBe(0)
  expect(metrics.EVOLVE_TOKEN).toBe(0)
}

const pythonProbe = `
import os
NAMES = ["DATA_ROOT", "CUDA_VISIBLE_DEVICES", "MY_LLM_KEY", "EVAL_API_KEY", "EVOLVE_TOKEN", "EVAL_TASK_NAME"]

def seen(program_path):
    metrics = {name: int(name in os.environ) for name in NAMES}
    metrics["DATA_SPLIT_fixed"] = int(os.environ.get("DATA_SPLIT") == "fixed wins")
    metrics["cwd_is_evaluator_dir"] = int(os.getcwd() == os.path.dirname(os.path.abspath(__file__)))
    metrics["cwd_is_candidate_dir"] = int(os.getcwd() == os.path.dirname(program_path))
    metrics["relative_data"] = int(os.path.exists("data.txt"))
    metrics["combined_score"] = 1.0
    return metrics
`

describe("the evaluator's environment (evaluator.env, evaluator.pass_env)", () => {
  it("passes named variables and globs, never a protected name through a glob, and holds values Redacted", () => {
    const passed = ConfiguredEnv.passed({ ...settings, passEnv: [...settings.passEnv, "OTHER"] }, { ...parent, OTHER: "o", PATH: "/bin" })
    expect(Object.keys(passed).sort()).toEqual(["CUDA_VISIBLE_DEVICES", "DATA_ROOT", "DATA_SPLIT", "EVAL_API_KEY", "OTHER"])
    expect(inspect(passed)).not.toContain("sk-eval")
    expect(JSON.stringify(passed)).not.toContain("sk-eval")
    expect(Redacted.value(passed.EVAL_API_KEY!)).toBe("sk-eval")
    // Named exactly, a protected variable passes: the user asked for it.
    expect(Object.keys(ConfiguredEnv.passed({ ...settings, passEnv: ["MY_LLM_KEY", "EVOLVE_TOKEN"] }, parent)).sort())
      .toEqual(["EVOLVE_TOKEN", "MY_LLM_KEY"])
  })

  for (const warm of [true, false]) {
    it.scopedLive(`openevolve contract, warm pool ${warm}: variables, and the evaluator's directory as working directory`, () =>
      withParentEnv(withPythonEvaluator(
        { "evaluator.py": `${pythonProbe}\ndef evaluate(program_path):\n    return seen(program_path)\n`, "data.txt": "x" },
        { timeoutMs: 10_000, warm, env: settings },
        (evaluate) =>
          Effect.gen(function*() {
            const { metrics } = expectScored(yield* evaluate("pass\n"))
            expectSeen(metrics)
            expect(metrics).toMatchObject({ cwd_is_evaluator_dir: 1, cwd_is_candidate_dir: 0, relative_data: 1 })
          })
      )))
  }

  it.scopedLive("shinka contract: the same, and working_dir: candidate keeps the old behaviour", () =>
    withParentEnv(Effect.gen(function*() {
      const files = {
        "evaluate.py": `${pythonProbe}
import argparse, json
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path")
    parser.add_argument("--results_dir")
    args = parser.parse_args()
    json.dump(seen(args.program_path), open(os.path.join(args.results_dir, "metrics.json"), "w"))
`,
        "data.txt": "x"
      }
      const run = (options: Partial<PythonEvaluatorOptions>) =>
        withPythonEvaluator(files, { contract: "shinka", timeoutMs: 10_000, env: settings, ...options }, (evaluate) =>
          Effect.map(evaluate("pass\n"), (outcome) => expectScored(outcome).metrics))
      const metrics = yield* run({})
      expectSeen(metrics)
      expect(metrics).toMatchObject({ cwd_is_evaluator_dir: 1, cwd_is_candidate_dir: 0, relative_data: 1 })
      expect(yield* run({ workingDir: "candidate" })).toMatchObject({ cwd_is_evaluator_dir: 0, cwd_is_candidate_dir: 1, relative_data: 0 })
    })))

  it.scopedLive("command contract: the same", () =>
    withParentEnv(Effect.gen(function*() {
      const dir = yield* fixtureDir({
        "data.txt": "x",
        "eval.cjs": `
const fs = require("fs"), path = require("path")
const names = ["DATA_ROOT", "CUDA_VISIBLE_DEVICES", "MY_LLM_KEY", "EVAL_API_KEY", "EVOLVE_TOKEN", "EVAL_TASK_NAME"]
const metrics = Object.fromEntries(names.map((n) => [n, n in process.env ? 1 : 0]))
metrics.DATA_SPLIT_fixed = process.env.DATA_SPLIT === "fixed wins" ? 1 : 0
const program = process.argv[process.argv.length - 1]
metrics.cwd_is_evaluator_dir = process.cwd() === __dirname ? 1 : 0
metrics.cwd_is_candidate_dir = process.cwd() === path.dirname(program) ? 1 : 0
metrics.relative_data = fs.existsSync("data.txt") ? 1 : 0
metrics.combined_score = 1
console.log(JSON.stringify(metrics))
`
      }, "evolve-envtest-")
      const run = (options: Partial<CommandEvaluatorOptions>) =>
        Effect.gen(function*() {
          const evaluator = yield* Evaluator
          return expectScored(yield* evaluator.evaluate({ programId: "p-1", code: "x", extension: ".txt" })).metrics
        }).pipe(Effect.provide(CommandEvaluator.layer({
          command: [process.execPath, NodePath.join(dir, "eval.cjs")],
          cwd: dir,
          timeoutMs: 10_000,
          killGraceMs: 200,
          outputCapBytes: 64 * 1024,
          primaryMetric: "score",
          keepArtifacts: false,
          env: settings,
          ...options
        }).pipe(Layer.provide(NodeContext.layer))))
      const metrics = yield* run({})
      expectSeen(metrics)
      expect(metrics).toMatchObject({ cwd_is_evaluator_dir: 1, cwd_is_candidate_dir: 0, relative_data: 1 })
      expect(yield* run({ workingDir: "candidate" })).toMatchObject({ cwd_is_evaluator_dir: 0, cwd_is_candidate_dir: 1, relative_data: 0 })
    })))

  for (const warm of [true, false]) {
    it.scopedLive(`a Python command evaluator from the config (warm pool ${warm}): the same`, () =>
      withParentEnv(Effect.gen(function*() {
        const dir = yield* fixtureDir({
          "data.txt": "x",
          "eval.py": `${pythonProbe}
import json, sys
print(json.dumps(seen(sys.argv[-1])))
`
        }, "evolve-envtest-")
        const run = (working_dir: "evaluator" | "candidate") =>
          Effect.gen(function*() {
            const evaluator = yield* Evaluator
            return expectScored(yield* evaluator.evaluate({ programId: "p-1", code: "x", extension: ".txt" })).metrics
          }).pipe(Effect.provide(EvaluatorLive.fromConfig(
            Schema.decodeUnknownSync(EvaluatorConfig)({
              contract: "command",
              command: ["python3", NodePath.join(dir, "eval.py")],
              warm_pool: warm,
              working_dir,
              env: settings.env,
              pass_env: settings.passEnv
            }),
            { evaluatorPath: NodePath.join(dir, "eval.py"), slots: 1, protectedEnv: settings.protectedNames }
          ).pipe(Layer.provide(NodeContext.layer))))
        const metrics = yield* run("evaluator")
        expectSeen(metrics)
        expect(metrics).toMatchObject({ cwd_is_evaluator_dir: 1, cwd_is_candidate_dir: 0, relative_data: 1 })
        expect(yield* run("candidate")).toMatchObject({ cwd_is_evaluator_dir: 0, cwd_is_candidate_dir: 1, relative_data: 0 })
      })))
  }
})
