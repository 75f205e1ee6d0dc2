import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import * as FunctionEvaluator from "../../src/evaluate/FunctionEvaluator.js"

const request = (code = "x") => ({ programId: "p1", code, extension: ".js" })

describe("FunctionEvaluator", () => {
  it("applies the metrics rules of the command contract", () => {
    expect(FunctionEvaluator.toVerdict({ score: 2, n: 3, ok: true, label: "x" })).toEqual({
      _tag: "Scored",
      metrics: { score: 2, n: 3, ok: 1 },
      score: 2,
      feedback: null
    })
    expect(FunctionEvaluator.toVerdict({ combined_score: 0.5, score: 9 })).toMatchObject({ score: 0.5 })
    expect(FunctionEvaluator.toVerdict({ accuracy: 0.9 }, "accuracy")).toMatchObject({ score: 0.9 })
    expect(FunctionEvaluator.toVerdict(7)).toMatchObject({ _tag: "Scored", metrics: { score: 7 }, score: 7 })
    expect(FunctionEvaluator.toVerdict({ score: 1, text_feedback: "too slow" })).toMatchObject({ feedback: "too slow" })
    expect(FunctionEvaluator.toVerdict({ score: 1, correct: false })).toMatchObject({
      _tag: "Failed",
      failure: { kind: "evaluator_error", message: "evaluator reported correct: false" }
    })
    expect(FunctionEvaluator.toVerdict({ error: "wrong answer" })).toMatchObject({
      failure: { kind: "evaluator_error", message: "evaluator reported wrong answer" }
    })
    expect(FunctionEvaluator.toVerdict({ score: Number.NaN })).toMatchObject({ failure: { kind: "bad_metrics" } })
    expect(FunctionEvaluator.toVerdict(Infinity)).toMatchObject({ failure: { kind: "bad_metrics" } })
    expect(FunctionEvaluator.toVerdict({ accuracy: 1 })).toMatchObject({
      failure: { kind: "bad_metrics", message: expect.stringContaining(`"combined_score" or "score"`) }
    })
    expect(FunctionEvaluator.toVerdict({ score: "high" })).toMatchObject({ failure: { kind: "bad_metrics" } })
    expect(FunctionEvaluator.toVerdict(null)).toMatchObject({ failure: { kind: "bad_metrics" } })
  })

  it.effect("scores with an Effect function and never fails", () =>
    Effect.gen(function*() {
      const evaluator = yield* Evaluator
      const scored = yield* evaluator.evaluate(request("abc"))
      expect(scored).toMatchObject({ _tag: "Scored", score: 3 })
      const failed = yield* evaluator.evaluate(request("fail"))
      expect(failed).toMatchObject({ _tag: "Failed", failure: { kind: "evaluator_error", message: "no good" } })
      const died = yield* evaluator.evaluate(request("die"))
      expect(died).toMatchObject({ _tag: "Failed", failure: { kind: "evaluator_error", message: "internal error: kaput" } })
    }).pipe(
      Effect.provide(FunctionEvaluator.layer((r) =>
        r.code === "fail"
          ? Effect.fail(new Error("no good"))
          : r.code === "die"
          ? Effect.die(new Error("kaput"))
          : Effect.succeed({ score: r.code.length })
      ))
    ))

  it.effect("times out a slow evaluation", () =>
    Effect.gen(function*() {
      const evaluator = yield* Evaluator
      const fiber = yield* Effect.fork(evaluator.evaluate(request()))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toMatchObject({
        _tag: "Failed",
        failure: { kind: "timeout", message: "evaluation exceeded the 1000 ms time limit" },
        durationMs: 1000
      })
    }).pipe(
      Effect.provide(FunctionEvaluator.layer(() => Effect.as(Effect.sleep("1 hour"), 1), { timeoutMs: 1000 }))
    ))

  it("wraps an async function, aborting its signal on timeout", async () => {
    let aborted = false
    const evaluate = Effect.flatMap(Evaluator, (e) => e.evaluate(request("hello")))
    const slow = FunctionEvaluator.layerPromise(
      (_code, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = true
            resolve(0)
          })
        }),
      { timeoutMs: 20 }
    )
    expect(await Effect.runPromise(Effect.provide(evaluate, slow))).toMatchObject({ failure: { kind: "timeout" } })
    expect(aborted).toBe(true)
    const throwing = FunctionEvaluator.layerPromise(() => {
      throw new TypeError("bad input")
    })
    expect(await Effect.runPromise(Effect.provide(evaluate, throwing))).toMatchObject({
      failure: { kind: "evaluator_error", message: "bad input" }
    })
    const sync = FunctionEvaluator.layerPromise((code, ctx) => ({ score: code.length, ext: ctx.extension === ".js" }))
    expect(await Effect.runPromise(Effect.provide(evaluate, sync))).toMatchObject({ metrics: { score: 5, ext: 1 } })
  })
})
