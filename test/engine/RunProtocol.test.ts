/**
 * The run's messages, sent through its in-process RunProtocol client, under TestClock: each
 * changes what the owner fiber does next, and what the database keeps.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, TestClock } from "effect"
import { CandidateStore } from "../../src/db/CandidateStore.js"
import * as Db from "../../src/db/ProgramDatabase.js"
import { DatabaseError } from "../../src/domain/Errors.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { Proposer } from "../../src/propose/Proposer.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"
import { specWith } from "../support/runFixtures.js"

const llm = { text: "", model: "m", inputTokens: 10, outputTokens: 2, usd: 0, latencyMs: 1000, attempts: 1, finishReason: "stop" }

/** LLM calls take 1 s, evaluations 1 s; the probe counts what is in flight. */
const services = (
  probe: Ref.Ref<{ llm: number; llmMax: number }>,
  options: { readonly propose?: () => Effect.Effect<never>; readonly brokenReads?: boolean } = {}
) => {
  let n = 0
  const propose = options.propose
  // The parent's rows are read by the proposal worker: a broken read fails it with a DatabaseError.
  const database = options.brokenReads === true
    ? Layer.effect(
      CandidateStore,
      Effect.map(CandidateStore, (store) => ({
        ...store,
        getPrograms: () => Effect.fail(new DatabaseError({ operation: "read programs", message: "read programs: disk I/O error" }))
      }))
    ).pipe(Layer.provideMerge(Db.layer(":memory:")))
    : Db.layer(":memory:")
  return Layer.mergeAll(
    runDefaults,
    Layer.succeed(Proposer, {
      propose: () =>
        propose !== undefined ? propose() : Effect.gen(function*() {
          yield* Ref.update(probe, (p) => ({ llm: p.llm + 1, llmMax: Math.max(p.llmMax, p.llm + 1) }))
          yield* Effect.sleep("1 second")
          yield* Ref.update(probe, (p) => ({ ...p, llm: p.llm - 1 }))
          return { _tag: "Proposed", code: `score = ${++n}\n`, patch: "diff", llm } as const
        })
    }),
    Layer.succeed(Evaluator, {
      evaluate: (request) =>
        Effect.as(Effect.sleep("1 second"), {
          _tag: "Scored",
          metrics: { score: request.code.length },
          score: request.code.length,
          feedback: null,
          durationMs: 1000
        } as const)
    }),
    database
  )
}

const startRun = (config: Parameters<typeof specWith>[0]) =>
  startLocal({ _tag: "New", spec: specWith(config), initialCode: "score = 0\n" })

describe("RunProtocol", () => {
  it.scoped("Extend raises the maximum of a running run, in its stats and in the stored spec", () =>
    Effect.gen(function*() {
      const probe = yield* Ref.make({ llm: 0, llmMax: 0 })
      yield* Effect.gen(function*() {
        const handle = yield* startRun({ max_evaluations: 5, concurrency: { proposals: 1, evaluations: 1 } })
        const summary = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("2500 millis")
        const stats = yield* handle.client.Extend({ max_evaluations: 9 })
        expect(stats.maxEvaluations).toBe(9)
        const db = yield* allStores
        expect((yield* db.getRun(handle.runId)).spec.config.max_evaluations).toBe(9)
        yield* TestClock.adjust("1 hour")
        const done = yield* Fiber.join(summary)
        expect(done).toMatchObject({ evaluations: 9, maxEvaluations: 9, stopReason: "max_evaluations" })
      }).pipe(Effect.provide(services(probe)))
    }))

  it.scoped("SetConcurrency changes how many LLM calls are in flight from then on", () =>
    Effect.gen(function*() {
      const probe = yield* Ref.make({ llm: 0, llmMax: 0 })
      yield* Effect.gen(function*() {
        const handle = yield* startRun({ max_evaluations: 60, concurrency: { proposals: 2, evaluations: 8 } })
        const summary = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("3 seconds")
        expect((yield* Ref.get(probe)).llmMax).toBe(2)
        const stats = yield* handle.client.SetConcurrency({ proposals: 6 })
        expect(stats.concurrency).toEqual({ proposals: 6, evaluations: 8 })
        yield* TestClock.adjust("3 seconds")
        expect((yield* Ref.get(probe)).llmMax).toBe(6)
        const db = yield* allStores
        expect((yield* db.getRun(handle.runId)).spec.config.concurrency.proposals).toBe(6)
        yield* TestClock.adjust("1 hour")
        expect((yield* Fiber.join(summary)).evaluations).toBe(60)
      }).pipe(Effect.provide(services(probe)))
    }))

  it.scoped("Pause ends the session as interrupted/paused; then every message but GetStats is refused", () =>
    Effect.gen(function*() {
      const probe = yield* Ref.make({ llm: 0, llmMax: 0 })
      yield* Effect.gen(function*() {
        const handle = yield* startRun({ max_evaluations: 50, concurrency: { proposals: 2, evaluations: 2 } })
        const summary = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("2500 millis")
        expect(yield* Effect.flip(handle.client.Resume({}))).toMatchObject({ _tag: "RunRefused" })
        yield* handle.client.Pause()
        yield* TestClock.adjust("1 hour")
        const done = yield* Fiber.join(summary)
        expect(done).toMatchObject({ status: "interrupted", stopReason: "interrupted", message: "paused" })
        const db = yield* allStores
        expect(yield* db.getRun(handle.runId)).toMatchObject({ status: "interrupted", stopReason: "paused" })
        expect(yield* Effect.flip(handle.client.Stop({}))).toMatchObject({ _tag: "RunNotActive" })
        expect(yield* Effect.flip(handle.client.Extend({ max_evaluations: 80 }))).toMatchObject({ _tag: "RunRefused" })
        expect(yield* handle.client.GetStats()).toMatchObject({ status: "interrupted", evaluations: done.evaluations })
      }).pipe(Effect.provide(services(probe)))
    }))

  it.scoped("a defect in a worker fails the run as internal_error, not as proposal failures", () =>
    Effect.gen(function*() {
      const probe = yield* Ref.make({ llm: 0, llmMax: 0 })
      const summary = yield* Effect.gen(function*() {
        const handle = yield* startRun({ max_evaluations: 50, concurrency: { proposals: 1, evaluations: 1 } })
        const fiber = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("1 hour")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(services(probe, { propose: () => Effect.die(new Error("proposer bug")) })))
      expect(summary).toMatchObject({ status: "failed", stopReason: "internal_error" })
      expect(summary.message).toContain("proposer bug")
    }))

  it.scoped("a database error of a worker fails the run as database_error with the first error", () =>
    Effect.gen(function*() {
      const probe = yield* Ref.make({ llm: 0, llmMax: 0 })
      const summary = yield* Effect.gen(function*() {
        const handle = yield* startRun({ max_evaluations: 50, concurrency: { proposals: 1, evaluations: 1 } })
        const fiber = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("1 hour")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(services(probe, { brokenReads: true })))
      expect(summary).toMatchObject({ status: "failed", stopReason: "database_error", message: "read programs: disk I/O error" })
    }))
})
