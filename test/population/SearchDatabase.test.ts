import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import { decodeDescriptor, encodeDescriptor } from "../../src/population/Features.js"
import { program, specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { enabledBackends } from "../support/postgres.js"

const runId = RunId.make("run_search")

/** Inserts and commits programs: [id, score | failure kind, metrics, evaluatedAt, island]. */
const seed = (rows: ReadonlyArray<readonly [string, number | string, Record<string, number>, number, number?]>) =>
  Effect.gen(function*() {
    const db = yield* allStores
    yield* db.createRun(runId, specWith(), 0)
    for (const [id, outcome, metrics, at, island] of rows) {
      yield* db.insertProgram(program({ id, runId, createdAt: at, island: island ?? 0, parentId: id === "root" ? null : "root" }))
      yield* db.commitEvaluation(
        ProgramId.make(id),
        typeof outcome === "number"
          ? { _tag: "Scored", metrics, score: outcome, feedback: null, durationMs: 1 }
          : { _tag: "Failed", failure: { kind: outcome as "timeout", message: "x" }, feedback: null, durationMs: 1 },
        at
      )
    }
    return db
  })

describe.each(enabledBackends)("ProgramDatabase: search queries on $name", (backend) => {
  it.effect("keeps the Pareto front over the objectives (minimised ones included)", () =>
    Effect.gen(function*() {
      const db = yield* seed([
        ["root", 0.1, { accuracy: 0.1, latency: 5 }, 1],
        ["a", 0.5, { accuracy: 0.5, latency: 10 }, 2],
        ["b", 0.6, { accuracy: 0.6, latency: 20 }, 3],
        ["c", 0.4, { accuracy: 0.4, latency: 15 }, 4], // dominated by a
        ["d", 0.6, { accuracy: 0.6, latency: 20 }, 5], // equal to b: both stay
        ["e", 0.9, { accuracy: 0.9 }, 6], // no latency: left out
        ["f", "timeout", {}, 7]
      ])
      const front = yield* db.paretoFront(runId, [
        { metric: "accuracy", direction: "maximize" },
        { metric: "latency", direction: "minimize" }
      ])
      expect(front.map((p) => p.id).sort()).toEqual(["a", "b", "d", "root"])
      const single = yield* db.paretoFront(runId, [{ metric: "latency", direction: "minimize" }])
      expect(single.map((p) => p.id)).toEqual(["root"])
    }).pipe(Effect.provide(backend.layer)))

  it.effect("stores migrants, descriptors and what a resume needs (fix-mode failures, patience counter)", () =>
    Effect.gen(function*() {
      const db = yield* seed([
        ["root", 0.1, {}, 1],
        ["a", 0.5, {}, 2, 0],
        ["best", 0.9, {}, 3, 1],
        ["x", "timeout", {}, 4, 1],
        ["y", 0.2, {}, 5, 0],
        ["z", "bad_metrics", {}, 6, 0]
      ])
      yield* db.recordMigrants(runId, [{ programId: ProgramId.make("best"), island: 0, origin: 1 }], 7)
      yield* db.recordDescriptor(ProgramId.make("a"), encodeDescriptor({ features: [1, Number.NaN], objectives: [0.5] }))
      const state = yield* db.loadSearchState(runId, { descriptors: true, failures: 5 })
      expect(state.migrants).toEqual([{ programId: "best", island: 0, origin: 1 }])
      expect(decodeDescriptor(state.descriptors.get("a")!)).toEqual({ features: [1, Number.NaN], objectives: [0.5] })
      expect(state.descriptors.size).toBe(1)
      expect(state.failedEvaluations.map((f) => [f.id, f.kind, f.island])).toEqual([["x", "timeout", 1], ["z", "bad_metrics", 0]])
      // "best" was evaluated at 3; x, y and z came after.
      expect(state.evaluationsSinceBest).toBe(3)
      const lean = yield* db.loadSearchState(runId, { descriptors: false, failures: 0 })
      expect(lean.descriptors.size).toBe(0)
      expect(lean.failedEvaluations).toEqual([])
    }).pipe(Effect.provide(backend.layer)))
})
