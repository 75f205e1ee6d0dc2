/**
 * A run's events as recorded: numbered from the last stored one, in order, events published
 * together stored in one batch (one INSERT), and those left when the run ends stored too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Queue } from "effect"
import { EventStore } from "../../src/db/EventStore.js"
import type { StoredEventRow } from "../../src/db/Records.js"
import { RunId } from "../../src/domain/Ids.js"
import { RunStatusChanged } from "../../src/domain/RunEvent.js"
import * as RunEvents from "../../src/engine/RunEvents.js"

const runId = RunId.make("run_events")
const event = (at: number) => new RunStatusChanged({ runId, at, status: "running", reason: `e${at}` })

describe("RunEvents.record", () => {
  it.effect("stores events published together in one batch, numbered after the last stored one", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<StoredEventRow>> = []
      const store = EventStore.of({
        appendEvents: (rows) => Effect.sync(() => void batches.push(rows)),
        readEvents: () => Effect.succeed([]),
        lastEventSeq: () => Effect.succeed(7)
      })
      const events = yield* Queue.unbounded<ReturnType<typeof event>>()
      const done = yield* Deferred.make<void>()
      const handed: Array<number> = []
      const recording = yield* RunEvents.record(runId, events, Deferred.await(done), (batch) =>
        Effect.sync(() => void handed.push(...batch.map((e) => e.seq)))).pipe(Effect.provideService(EventStore, store), Effect.fork)
      // The recorder waits for the first event.
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      // Two events at once (as a stored candidate's LlmCallDone and CandidateProposed): one batch.
      yield* Queue.offer(events, event(1))
      yield* Queue.offer(events, event(2))
      while (batches.length === 0) yield* Effect.yieldNow()
      yield* Queue.offer(events, event(3))
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(recording)
      expect(batches.map((b) => b.map((r) => r.seq))).toEqual([[8, 9], [10]])
      expect(batches.flat().map((r) => r.at)).toEqual([1, 2, 3])
      expect(handed).toEqual([8, 9, 10])
    }))
})
