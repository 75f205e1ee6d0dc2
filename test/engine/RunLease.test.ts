import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, TestClock } from "effect"
import { hostname } from "node:os"
import * as Db from "../../src/db/ProgramDatabase.js"
import { RunBusy } from "../../src/domain/Errors.js"
import { RunId } from "../../src/domain/Ids.js"
import * as RunLease from "../../src/engine/RunLease.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { Proposer } from "../../src/propose/Proposer.js"
import { specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"
import { type Backend, enabledBackends } from "../support/postgres.js"

const runId = RunId.make("run_lease")

const withRunOn = (backend: Backend) =>
<A, E>(body: (db: Effect.Effect.Success<typeof allStores>) => Effect.Effect<A, E, Db.ProgramDatabase>) =>
  Effect.gen(function*() {
    const db = yield* allStores
    yield* db.createRun(runId, specWith(), 0)
    return yield* body(db)
  }).pipe(Effect.provide(backend.layer))

/** A pid that cannot exist (above the kernel's pid_max limit of 2^22). */
const deadPid = 2 ** 22 + 17

describe.each(enabledBackends)("RunLease on $name", (backend) => {
  const withRun = withRunOn(backend)
  it.effect("a second taker gets RunBusy naming the holder until the lease is released", () =>
    withRun((db) =>
      Effect.gen(function*() {
        const first = yield* RunLease.acquire(runId)
        const busy = yield* Effect.flip(RunLease.acquire(runId))
        expect(busy).toBeInstanceOf(RunBusy)
        expect(busy.message).toContain(`pid ${process.pid} on host ${hostname()}`)
        yield* first.release
        expect(yield* db.readLease(runId)).toBeNull()
        const second = yield* RunLease.acquire(runId)
        expect((yield* db.readLease(runId))?.owner).toBe(second.owner)
      })
    ))

  it.effect("a holder on another host is presumed dead only after its heartbeat is stale", () =>
    withRun((db) =>
      Effect.gen(function*() {
        expect(yield* db.takeLease(runId, "elsewhere/42/abc", null, 0)).toBe(true)
        yield* TestClock.adjust(RunLease.staleAfterMs - 1000)
        const busy = yield* Effect.flip(RunLease.acquire(runId))
        expect(busy.message).toMatch(/pid 42 on host elsewhere \(last heartbeat 29 s ago\)/)
        yield* TestClock.adjust(2000)
        const lease = yield* RunLease.acquire(runId)
        expect((yield* db.readLease(runId))?.owner).toBe(lease.owner)
        // The old holder's heartbeat now tells it that it lost the run.
        expect(yield* db.renewLease(runId, "elsewhere/42/abc", 40_000)).toBe(false)
      })
    ))

  it.effect("a holder on this host whose pid is gone (killed -9) is replaced at once", () =>
    withRun((db) =>
      Effect.gen(function*() {
        yield* TestClock.adjust(1_000_000)
        expect(yield* db.takeLease(runId, `${hostname()}/${deadPid}/x`, null, 1_000_000)).toBe(true)
        const lease = yield* RunLease.acquire(runId)
        expect((yield* db.readLease(runId))?.owner).toBe(lease.owner)
      })
    ))

  it.effect("keepAlive beats until another process takes the lease, then reports the loss", () =>
    withRun((db) =>
      Effect.gen(function*() {
        const lease = yield* RunLease.acquire(runId)
        const lost = yield* Ref.make(false)
        const fiber = yield* Effect.fork(RunLease.keepAlive(lease, Ref.set(lost, true)))
        yield* TestClock.adjust("12 seconds")
        expect((yield* db.readLease(runId))?.heartbeatAt).toBe(10_000)
        expect(yield* db.takeLease(runId, "elsewhere/7/y", lease.owner, 12_000)).toBe(true)
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        expect(yield* Ref.get(lost)).toBe(true)
      })
    ))
})

describe("EvolutionRun with a lease", () => {
  let n = 0
  const llm = { text: "", model: "m", inputTokens: 1, outputTokens: 1, usd: 0, latencyMs: 1000, attempts: 1, finishReason: "stop" }
  const layers = Layer.mergeAll(
    Layer.succeed(Proposer, {
      propose: () =>
        Effect.as(Effect.sleep("1 second"), { _tag: "Proposed", code: `score = ${++n}\n`, patch: "diff", llm } as const)
    }),
    Layer.succeed(Evaluator, {
      evaluate: () =>
        Effect.as(Effect.sleep("1 second"), { _tag: "Scored", metrics: { score: 1 }, score: 1, feedback: null, durationMs: 1000 } as const)
    }),
    Db.layer(":memory:"),
    runDefaults
  )

  it.scoped("a resume while the run is driven elsewhere fails with RunBusy; after the run ends it works", () =>
    Effect.gen(function*() {
      const spec = specWith({ max_evaluations: 5, concurrency: { proposals: 1, evaluations: 1 } })
      const handle = yield* startLocal({ _tag: "New", spec, initialCode: "score = 0\n" })
      const busy = yield* Effect.flip(Effect.scoped(startLocal({ _tag: "Resume", runId: handle.runId, spec })))
      expect(busy._tag).toBe("RunBusy")
      const summaryFiber = yield* Effect.fork(handle.await)
      yield* TestClock.adjust("1 minute")
      const summary = yield* Fiber.join(summaryFiber)
      expect(summary.status).toBe("completed")
      const db = yield* allStores
      expect(yield* db.readLease(handle.runId)).toBeNull()
      const again = yield* Effect.scoped(Effect.gen(function*() {
        const resumed = yield* startLocal({ _tag: "Resume", runId: handle.runId, spec })
        return yield* resumed.await
      }))
      expect(again.evaluations).toBe(5)
    }).pipe(Effect.provide(layers)))

  it.scoped("a run whose lease is taken over stops as lease_lost and leaves the run's status alone", () =>
    Effect.gen(function*() {
      const spec = specWith({ max_evaluations: 1000, concurrency: { proposals: 1, evaluations: 1 } })
      const handle = yield* startLocal({ _tag: "New", spec, initialCode: "score = 0\n" })
      const summaryFiber = yield* Effect.fork(handle.await)
      yield* TestClock.adjust("3 seconds")
      const db = yield* allStores
      const held = yield* db.readLease(handle.runId)
      expect(yield* db.takeLease(handle.runId, "elsewhere/9/z", held!.owner, 3000)).toBe(true)
      yield* db.setRunStatus(handle.runId, "running", "taken over", 3000)
      yield* TestClock.adjust("1 minute")
      const summary = yield* Fiber.join(summaryFiber)
      expect(summary.stopReason).toBe("lease_lost")
      expect((yield* db.getRun(handle.runId)).stopReason).toBe("taken over")
      expect((yield* db.readLease(handle.runId))?.owner).toBe("elsewhere/9/z")
    }).pipe(Effect.provide(layers)))
})
