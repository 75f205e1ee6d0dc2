/**
 * A cluster run's dispatch: a candidate offered to the workers is completed by its worker's report
 * (the result it committed, carried by the `EvaluationDone` message: no read of the row), or by
 * the run finding the committed row itself (`check`), whichever comes first; on Postgres from the
 * notice of its worker's commit (ResultNotices), the row read only when the notice has no result
 * or the listener (re)connected.
 */
import { describe, expect, it } from "@effect/vitest"
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import { Effect, Fiber, Layer, PubSub } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as ResultNotices from "../../src/db/ResultNotices.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import * as ClusterDispatch from "../../src/engine/ClusterDispatch.js"
import * as EvaluationQueue from "../../src/engine/EvaluationQueue.js"
import { allStores } from "../support/database.js"
import { program, specWith } from "../support/runFixtures.js"

const runId = RunId.make("run_dispatch")
const scored = (score: number): EvaluationOutcome => ({ _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 5 })
/** A queue whose first `failures` offers fail with `cause`. */
const offers: Array<string> = []
const flakyQueue = (failures: number, cause: unknown) =>
  PersistedQueue.layer.pipe(Layer.provide(Layer.effect(
    PersistedQueue.PersistedQueueStore,
    Effect.map(PersistedQueue.PersistedQueueStore, (store) => ({
      ...store,
      offer: (options: Parameters<typeof store.offer>[0]) =>
        offers.filter((o) => o === "fail").length < failures
          ? Effect.zipRight(Effect.sync(() => offers.push("fail")), Effect.fail(new PersistedQueue.PersistedQueueError({ message: "failed", cause })))
          : Effect.zipRight(Effect.sync(() => offers.push(options.id)), store.offer(options))
    }))
  ).pipe(Layer.provide(PersistedQueue.layerStoreMemory))))
/** What node-postgres reports for a statement cut by a database restart. */
const restartCut = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })
const database = Layer.provideMerge(EvaluationQueue.layer({ lockExpiration: "60 seconds" }), Db.layer(":memory:"))

/** A run with one pending candidate, "a", and the run's dispatch (offers counted afresh). */
const oneCandidate = Effect.gen(function*() {
  offers.length = 0
  const db = yield* allStores
  yield* db.createRun(runId, specWith(), 0)
  const a = program({ id: "a", runId, createdAt: 1 })
  yield* db.insertProgram(a)
  const made = yield* ClusterDispatch.make(runId, { requires: [], checkEvery: "1 hour" })
  return { a, made }
})

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

  it.scopedLive("completes candidates from the notices of their commits", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      yield* db.createRun(runId, specWith(), 0)
      const [a, b, c] = ["a", "b", "c"].map((id, i) => program({ id, runId, createdAt: i }))
      for (const p of [a, b, c]) yield* db.insertProgram(p!)
      const hub = yield* PubSub.unbounded<ResultNotices.Notice>()
      const notices = ResultNotices.ResultNotices.of({ enabled: true, subscribe: PubSub.subscribe(hub) })
      const made = yield* ClusterDispatch.make(runId, { requires: [], checkEvery: "1 hour", notices })
      const [fa, fb, fc] = yield* Effect.forEach([a, b, c], (p) => Effect.fork(made.dispatch.evaluate(p!, ".py", Effect.void)))
      yield* Effect.sleep("50 millis")
      // A notice with the result: taken as it is (the row is still pending here).
      yield* PubSub.publish(hub, { _tag: "Evaluated", programId: ProgramId.make("a"), outcome: scored(3) })
      expect(yield* Fiber.join(fa!)).toEqual({ outcome: scored(3), committed: true })
      // Without the result (too long for a notice): the row is read.
      yield* db.commitEvaluation(ProgramId.make("b"), scored(4), 10)
      yield* PubSub.publish(hub, { _tag: "Evaluated", programId: ProgramId.make("b"), outcome: undefined })
      expect(yield* Fiber.join(fb!)).toEqual({ outcome: scored(4), committed: true })
      // Committed while nobody listened: found when the listener says it listens again.
      yield* db.commitEvaluation(ProgramId.make("c"), scored(5), 11)
      yield* PubSub.publish(hub, { _tag: "Listening" })
      expect(yield* Fiber.join(fc!)).toEqual({ outcome: scored(5), committed: true })
    }).pipe(Effect.provide(database)))

  it.scopedLive("offers a candidate again when the database fails the offer for a while (a restart)", () =>
    Effect.gen(function*() {
      const { a, made } = yield* oneCandidate
      const started = yield* Effect.makeLatch(false)
      const evaluating = yield* Effect.fork(made.dispatch.evaluate(a, ".py", started.open))
      yield* started.await
      expect(offers).toEqual(["fail", "fail", "a"])
      yield* made.done(ProgramId.make("a"), scored(1))
      expect((yield* Fiber.join(evaluating)).outcome).toEqual(scored(1))
    }).pipe(Effect.provide(Layer.merge(flakyQueue(2, restartCut), Db.layer(":memory:")))))

  it.scopedLive("fails the evaluation at once when the offer fails for another reason", () =>
    Effect.gen(function*() {
      const { a, made } = yield* oneCandidate
      const error = yield* Effect.flip(made.dispatch.evaluate(a, ".py", Effect.void))
      expect(error._tag).toBe("DatabaseError")
      expect(error.message).toMatch(/^offer evaluation: failed/)
      expect(offers).toEqual(["fail"])
    }).pipe(Effect.provide(Layer.merge(flakyQueue(1, new Error("value too long for type character varying(64)")), Db.layer(":memory:")))))
})
