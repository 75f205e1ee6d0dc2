import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import { RunId } from "../../src/domain/Ids.js"
import { costUsd, resolveModels } from "../../src/llm/Models.js"
import { makeSelector } from "../../src/llm/Selection.js"
import { program, specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"

const llm = (model: string, usd: number) => ({ model, inputTokens: 10, outputTokens: 5, usd, latencyMs: 1, attempts: 1 })

describe("bandit state from the run's history (resume)", () => {
  it.effect("llmOutcomes gives each finished candidate's improvement over its parent and cost", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      const runId = RunId.make("run_b")
      yield* db.createRun(runId, specWith({}), 0)
      yield* db.insertProgram(program({ id: "root", runId: "run_b", createdAt: 0 }))
      yield* db.commitEvaluation(program({ id: "root", runId: "run_b" }).id, { _tag: "Scored", metrics: { score: 1 }, score: 1, feedback: null, durationMs: 1 }, 1)
      yield* db.insertProgram(program({ id: "a1", runId: "run_b", parentId: "root", createdAt: 2, llm: llm("a", 0.01) }))
      yield* db.commitEvaluation(program({ id: "a1", runId: "run_b" }).id, { _tag: "Scored", metrics: { score: 3 }, score: 3, feedback: null, durationMs: 1 }, 3)
      yield* db.insertProgram(program({ id: "b1", runId: "run_b", parentId: "root", createdAt: 4, llm: llm("b", 0.001) }))
      yield* db.commitEvaluation(program({ id: "b1", runId: "run_b" }).id, { _tag: "Failed", failure: { kind: "evaluator_error", message: "x" }, feedback: null, durationMs: 1 }, 5)
      yield* db.insertProgram(program({ id: "b2", runId: "run_b", parentId: "root", createdAt: 6, llm: llm("b", 0.001) })) // pending: skipped
      const outcomes = yield* db.llmOutcomes(runId)
      expect(outcomes).toEqual([
        { model: "a", improvement: 2, usd: 0.01 },
        { model: "b", improvement: 0, usd: 0.001 }
      ])
      // Replaying them into a fresh selector restores its state.
      const models = resolveModels(LlmConfig.make({ provider: "openai-chat", models: [{ model: "a" }, { model: "b" }] }))
      const selector = makeSelector(models, { strategy: "bandit", exploration: 1, priorUsd: (m) => costUsd(m, 1, 1) })
      for (const o of outcomes) selector.recordOutcome(o.model, o.improvement, o.usd)
      expect(selector.stats().map((s) => [s.name, s.outcomes, s.totalImprovement])).toEqual([["a", 1, 2], ["b", 1, 0]])
    }).pipe(Effect.provide(Db.layer(":memory:"))))
})
