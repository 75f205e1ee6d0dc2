/** Helpers shared by the evaluator tests: outcome assertions and a warm Python pool over fixture files. */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as NodePath from "node:path"
import { expect } from "vitest"
import type { EvaluationOutcome, FailureKind } from "../../src/domain/Program.js"
import { Evaluator, type PythonEvaluatorOptions } from "../../src/evaluate/Evaluator.js"
import type * as PidNamespace from "../../src/evaluate/PidNamespace.js"
import * as PythonEvaluator from "../../src/evaluate/PythonEvaluator.js"
import { fixtureDir } from "./processFixtures.js"

export const expectScored = (outcome: EvaluationOutcome) => {
  if (outcome._tag !== "Scored") throw new Error(`expected Scored, got ${JSON.stringify(outcome)}`)
  return outcome
}

/** A failure of `kind`, whose message matches `message` when given. */
export const expectFailed = (outcome: EvaluationOutcome, kind: FailureKind, message?: RegExp) => {
  if (outcome._tag !== "Failed") throw new Error(`expected Failed, got ${JSON.stringify(outcome)}`)
  expect(outcome.failure.kind, outcome.failure.message).toBe(kind)
  if (message !== undefined) expect(outcome.failure.message).toMatch(message)
  return outcome
}

/**
 * Builds the warm-pool evaluator for the evaluator among `files` (evaluator.py, or evaluate.py for
 * the shinka contract) with one slot and a 64 KB output cap, and runs `use` with it. Tests that
 * look at the pids a candidate reports need `isolation: { pidNamespace: false }`: in a worker's
 * pid namespace they are not this process's pids.
 */
export const withPythonEvaluator = <A>(
  files: Record<string, string>,
  options: Partial<PythonEvaluatorOptions> & { readonly timeoutMs: number },
  use: (evaluate: (code: string) => Effect.Effect<EvaluationOutcome>) => Effect.Effect<A>,
  prefix = "evolve-pytest-",
  isolation?: PidNamespace.Isolation
) =>
  Effect.gen(function*() {
    const contract = options.contract ?? "openevolve"
    const dir = yield* fixtureDir(files, prefix)
    let n = 0
    return yield* Effect.gen(function*() {
      const evaluator = yield* Evaluator
      return yield* use((code) => evaluator.evaluate({ programId: `p-${++n}`, code, extension: ".py" }))
    }).pipe(
      Effect.provide(
        PythonEvaluator.layer({
          contract,
          evaluatorPath: NodePath.join(dir, contract === "shinka" ? "evaluate.py" : "evaluator.py"),
          slots: 1,
          killGraceMs: 300,
          outputCapBytes: 64 * 1024,
          primaryMetric: "score",
          keepArtifacts: false,
          ...options
        }, isolation).pipe(Layer.provide(NodeContext.layer))
      )
    )
  })
