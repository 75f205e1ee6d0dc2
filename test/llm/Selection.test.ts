import { describe, expect, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import { costUsd, resolveModels } from "../../src/llm/Models.js"
import { makeSelector } from "../../src/llm/Selection.js"

const models = resolveModels(LlmConfig.make({
  provider: "openai-chat",
  price_input_per_m: 1,
  price_output_per_m: 1,
  models: [
    { model: "cheap", weight: 3, price_input_per_m: 0.1, price_output_per_m: 0.1 },
    { model: "mid", weight: 1 },
    { model: "dear", weight: 0, price_input_per_m: 10, price_output_per_m: 10 }
  ]
}))
const prior = (m: (typeof models)[number]) => costUsd(m, 1000, 1000)
/** The same models, all eligible for the bandit (weight 0 takes a model out of it). */
const armed = models.map((m) => ({ ...m, weight: 1 }))

describe("model resolution", () => {
  it("inherits unset keys from llm and makes names unique", () => {
    const specs = resolveModels(LlmConfig.make({
      provider: "openai-chat",
      base_url: "http://h/v1",
      temperature: 0.3,
      models: [{ model: "a" }, { model: "a", base_url: "http://other/v1", temperature: 0 }, { model: "b", name: "bee" }]
    }))
    expect(specs.map((s) => [s.name, s.model, s.baseUrl, s.temperature])).toEqual([
      ["a", "a", "http://h/v1", 0.3],
      ["a#2", "a", "http://other/v1", 0],
      ["bee", "b", "http://h/v1", 0.3]
    ])
  })

  it("a config without models is one model, named as before", () => {
    expect(resolveModels(LlmConfig.make({})).map((s) => s.name)).toEqual(["offline"])
    expect(resolveModels(LlmConfig.make({ provider: "openai-chat", model: "m" })).map((s) => s.name)).toEqual(["m"])
  })
})

describe("weighted selection", () => {
  it.effect("draws proportionally to weight, reproducibly under a seed, never a zero-weight model", () =>
    Effect.gen(function*() {
      const draw = Effect.gen(function*() {
        const selector = makeSelector(models, { strategy: "weighted", exploration: 1, priorUsd: prior })
        const counts: Record<string, number> = {}
        for (let i = 0; i < 4000; i++) {
          const m = yield* selector.choose(models)
          counts[m.name] = (counts[m.name] ?? 0) + 1
          selector.end(m.name)
        }
        return counts
      })
      const a = yield* Effect.withRandom(draw, Random.make(7))
      const b = yield* Effect.withRandom(draw, Random.make(7))
      expect(a).toEqual(b)
      expect(a["dear"]).toBeUndefined()
      expect(a["cheap"]! / 4000).toBeGreaterThan(0.7)
      expect(a["cheap"]! / 4000).toBeLessThan(0.8)
    }))

  it.effect("only chooses among the available models", () =>
    Effect.gen(function*() {
      const selector = makeSelector(models, { strategy: "weighted", exploration: 1, priorUsd: prior })
      for (let i = 0; i < 50; i++) expect((yield* selector.choose([models[1]!])).name).toBe("mid")
    }))
})

describe("cost-aware UCB bandit", () => {
  it.effect("tries every model first, then favours improvement per USD", () =>
    Effect.gen(function*() {
      const selector = makeSelector(armed, { strategy: "bandit", exploration: 0.2, priorUsd: prior })
      const first = []
      for (let i = 0; i < 3; i++) first.push((yield* selector.choose(armed)).name)
      expect(first).toEqual(["cheap", "mid", "dear"]) // in flight counts: concurrent picks spread out
      for (const name of first) selector.end(name)
      // "dear" improves 3× as much but costs 100× more; "mid" improves as much as cheap at 10× the price.
      selector.recordOutcome("cheap", 1, 0.0002)
      selector.recordOutcome("mid", 1, 0.002)
      selector.recordOutcome("dear", 3, 0.02)
      const picks: Record<string, number> = {}
      for (let i = 0; i < 30; i++) {
        const m = yield* selector.choose(armed)
        picks[m.name] = (picks[m.name] ?? 0) + 1
        selector.end(m.name)
        selector.recordOutcome(m.name, m.name === "dear" ? 3 : 1, m.name === "cheap" ? 0.0002 : m.name === "mid" ? 0.002 : 0.02)
      }
      expect(picks["cheap"]).toBeGreaterThanOrEqual(28)
    }))

  it.effect("state rebuilt from the outcome history makes the same choices (resume)", () =>
    Effect.gen(function*() {
      const history: Array<[string, number, number]> = [
        ["cheap", 0, 0.0002],
        ["mid", 0.5, 0.002],
        ["dear", 2, 0.02],
        ["mid", 0.7, 0.002],
        ["cheap", 0.1, 0.0002]
      ]
      const a = makeSelector(armed, { strategy: "bandit", exploration: 1, priorUsd: prior })
      const b = makeSelector(armed, { strategy: "bandit", exploration: 1, priorUsd: prior })
      for (const [m, imp, usd] of history) a.recordOutcome(m, imp, usd)
      for (const [m, imp, usd] of history) b.recordOutcome(m, imp, usd)
      const seq = (s: typeof a) =>
        Effect.gen(function*() {
          const out: Array<string> = []
          for (let i = 0; i < 10; i++) {
            const m = yield* s.choose(armed)
            out.push(m.name)
            s.end(m.name)
            s.recordOutcome(m.name, 0.1, 0.001)
          }
          return out
        })
      expect(yield* seq(a)).toEqual(yield* seq(b))
      expect(a.stats().find((s) => s.name === "mid")).toMatchObject({ outcomes: expect.any(Number), totalImprovement: expect.any(Number) })
    }))

  it.effect("a model of weight 0 is left out of the bandit", () =>
    Effect.gen(function*() {
      const selector = makeSelector(models, { strategy: "bandit", exploration: 1, priorUsd: prior })
      for (let i = 0; i < 20; i++) {
        const m = yield* selector.choose(models)
        expect(m.name).not.toBe("dear")
        selector.end(m.name)
        selector.recordOutcome(m.name, 0, 0.001)
      }
    }))

  it.effect("with all prices zero it is plain UCB on improvement", () =>
    Effect.gen(function*() {
      const free = resolveModels(LlmConfig.make({ provider: "openai-chat", models: [{ model: "x" }, { model: "y" }] }))
      const selector = makeSelector(free, { strategy: "bandit", exploration: 0.1, priorUsd: () => 0 })
      selector.recordOutcome("x", 0, 0)
      selector.recordOutcome("y", 1, 0)
      expect((yield* selector.choose(free)).name).toBe("y")
    }))
})
