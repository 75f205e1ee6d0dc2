import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"

describe("async def evaluate", () => {
  for (const warm of [true, false]) {
    it.scopedLive(`the openevolve contract awaits evaluate() and each cascade stage (warm pool: ${warm})`, () =>
      withPythonEvaluator({
        "evaluator.py": `
import asyncio

async def evaluate(program_path):
    await asyncio.sleep(0.01)
    ns = {}
    exec(open(program_path).read(), ns)
    if ns.get("FAIL"):
        raise ValueError("async failure")
    return {"combined_score": ns["X"]}
`
      }, { timeoutMs: 10_000, warm }, (evaluate) =>
        Effect.gen(function*() {
          expect(expectScored(yield* evaluate("X = 2.5\n")).score).toBe(2.5)
          expectFailed(yield* evaluate("X = 1\nFAIL = True\n"), "evaluator_error", /ValueError: async failure/)
        })))
  }

  it.scopedLive("cascade stages may be async too", () =>
    withPythonEvaluator({
      "evaluator.py": `
async def evaluate_stage1(program_path):
    return {"combined_score": 0.6, "stage1": 1}

async def evaluate_stage2(program_path):
    return {"combined_score": 0.9, "stage2": 1}
`
    }, { timeoutMs: 10_000, cascade: true, cascadeThresholds: [0.5] }, (evaluate) =>
      Effect.gen(function*() {
        const outcome = expectScored(yield* evaluate("pass\n"))
        expect(outcome.metrics).toEqual({ combined_score: 0.9, stage1: 1, stage2: 1 })
      })))
})
