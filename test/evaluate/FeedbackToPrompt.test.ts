import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as PythonEvaluator from "../../src/evaluate/PythonEvaluator.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import { fromComplete, LlmClient } from "../../src/llm/LlmClient.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { runDefaults, startLocal } from "../support/engine.js"
import { specWith } from "../support/runFixtures.js"

/**
 * End to end through the engine: a real OpenEvolve-style evaluator returns artifacts and text
 * feedback; the prompts the LLM then receives for that candidate's children carry them.
 */
describe("evaluator feedback reaches the next prompt", () => {
  it.scopedLive("artifacts, text feedback and stderr of a parent appear in its child's prompt", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "evolve-feedback-"))),
        (d) => Effect.sync(() => NodeFs.rmSync(d, { recursive: true, force: true }))
      )
      const evaluatorPath = NodePath.join(dir, "evaluator.py")
      NodeFs.writeFileSync(
        evaluatorPath,
        `
import sys
from openevolve.evaluation_result import EvaluationResult

def evaluate(program_path):
    ns = {}
    exec(open(program_path).read(), ns)
    score = ns["SCORE"]
    sys.stderr.write("warning: slow path taken for score %d\\n" % score)
    return EvaluationResult(
        metrics={"combined_score": float(score), "text_feedback": "try a larger SCORE than %d" % score},
        artifacts={"diagnosis": "circle %d touches the wall" % score})
`
      )
      const prompts: Array<string> = []
      let next = 1
      const llm = Layer.succeed(
        LlmClient,
        fromComplete("fake-model", (request) =>
          Effect.sync(() => {
            prompts.push(request.user)
            next++
            return {
              text: "```python\nSCORE = " + next + "\n```",
              model: "fake-model",
              inputTokens: 10,
              outputTokens: 5,
              usd: 0,
              latencyMs: 1,
              attempts: 1,
              finishReason: "stop"
            }
          }))
      )
      const proposer = Proposer.layer({ goal: "maximise SCORE", language: "python", editFormat: "full", maxCodeBytes: 10_000 })
        .pipe(Layer.provide(EmbeddingClient.offline), Layer.provideMerge(llm))
      const evaluator = PythonEvaluator.layer({
        contract: "openevolve",
        evaluatorPath,
        slots: 1,
        timeoutMs: 10_000,
        killGraceMs: 200,
        outputCapBytes: 64 * 1024,
        primaryMetric: "score",
        keepArtifacts: false
      }).pipe(Layer.provide(NodeContext.layer))
      const summary = yield* Effect.gen(function*() {
        const handle = yield* startLocal({
          _tag: "New",
          spec: specWith({ max_evaluations: 4, edit_format: "full", concurrency: { proposals: 1, evaluations: 1 } }),
          initialCode: "SCORE = 1\n"
        })
        return yield* handle.await
      }).pipe(Effect.provide(Layer.mergeAll(runDefaults, proposer, evaluator, Db.layer(":memory:"))))
      expect(summary.evaluations).toBeGreaterThanOrEqual(4)
      // Some prompt was built from an evaluated parent: its artifacts, text feedback and stderr are quoted.
      const withFeedback = prompts.find((p) => p.includes("[artifact diagnosis]"))
      expect(withFeedback, prompts.join("\n=====\n")).toBeDefined()
      expect(withFeedback).toMatch(/> circle \d+ touches the wall/)
      expect(withFeedback).toMatch(/> try a larger SCORE than \d+/)
      expect(withFeedback).toMatch(/> warning: slow path taken for score \d+/)
    }))
})
