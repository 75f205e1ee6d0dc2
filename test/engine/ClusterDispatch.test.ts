/**
 * A cluster run's dispatch: a candidate offered to the workers is completed by its worker's report
 * (the result it committed, carried by the `EvaluationDone` message: no read of the row), or by
 * the run finding the committed row itself (`check`), whichever comes first.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import * as ClusterDispatch from "../../src/engine/ClusterDispatch.js"
import * as EvaluationQueue from "../../src/engine/EvaluationQueue.js"
import { allStores } from "../support/database.js"
import { program, specWith } from "../support/runFixtures.js"

const runId = RunId.make("run_dispatch")
const scored = (score: number): EvaluationOutcome => ({ _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 5 })
const database = Layer.provideMerge(EvaluationQueue.layer({ lockExpiration: "60 seconds" }), Db.layer(":memory:"))

describe("ClusterDispatch", () => {
  it.scopedLive("completes a candidate with its worker's report, or with the committed row the run finds", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      yield* db.createRun(runId, specWith(), 0)
      const [a, b] = [program({ id: "a", runId, createdAt: 1 }), program({ id: "b", runId, createdAt: 2 })]
      yield* db.insertProgram(a)
      yield* db.insertProgram(b)
      const made = yield* ClusterDispatch.make(runId, { requires: [], checkEvery: "1 hour" })
      const evaluating = (p: typeof a) => Effect.fork(made.dispatch.evaluate(p, ".py", Effect.void))
      const [first, second] = [yield* evaluating(a), yield* evaluating(b)]
      yield* Effect.sleep("50 millis")
      // The report alone completes "a" (its row is still pending here: nothing was read).
      yield* made.done(ProgramId.make("a"), scored(3))
      expect(yield* Fiber.join(first)).toEqual({ outcome: scored(3), committed: true })
      // "b" is committed without a report: the run's own look finds it.
      yield* made.check([ProgramId.make("b")])
      expect(first.unsafePoll()).not.toBeNull()
      expect(second.unsafePoll()).toBeNull()
      yield* db.commitEvaluation(ProgramId.make("b"), scored(4), 10)
      yield* made.check([ProgramId.make("b")])
      expect(yield* Fiber.join(second)).toEqual({ outcome: scored(4), committed: true })
      // A late report of a candidate no longer waited for changes nothing.
      yield* made.done(ProgramId.make("b"), scored(5))
    }).pipe(Effect.provide(database)))
})
