/**
 * The work queue's store (SqlPersistedQueue with polls that back off): a taker waiting on an empty
 * queue polls less and less often, up to `maxPollInterval`, and finds work at once again after a
 * poll that found some. On SQLite in memory, under the TestClock.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as SqliteClient from "../../src/db/SqliteClient.js"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import * as SqlQueueStore from "../../src/db/SqlQueueStore.js"

const store = (maxPollInterval: Duration.DurationInput) =>
  PersistedQueue.layer.pipe(
    Layer.provide(SqlQueueStore.layerStore({ tableName: "q", pollInterval: "20 millis", maxPollInterval, lockExpiration: "60 seconds" })),
    Layer.provide(SqliteClient.layer(":memory:"))
  )

/** Offers one element at `offerAt` ms while a taker waits from 0; the TestClock time at which it was taken. */
const takenAt = (offerAt: number) =>
  Effect.gen(function*() {
    const queue = yield* PersistedQueue.make({ name: "work", schema: Schema.String })
    const taken = yield* Ref.make(Option.none<number>())
    const taker = yield* Effect.fork(queue.take(() => Effect.flatMap(TestClock.currentTimeMillis, (now) => Ref.set(taken, Option.some(now)))))
    yield* TestClock.adjust(offerAt)
    yield* queue.offer("a")
    // Step 1 ms at a time so the taken time is exact.
    for (let i = 0; i < 1_000 && Option.isNone(yield* Ref.get(taken)); i++) yield* TestClock.adjust(1)
    yield* Fiber.join(taker)
    return Option.getOrThrow(yield* Ref.get(taken))
  })

describe("SqlQueueStore", () => {
  it.scoped("without back-off, a waiting taker polls every pollInterval", () =>
    Effect.gen(function*() {
      // Polls at 0, 20, 40, …: an offer at 1010 is found by the poll at 1020.
      expect(yield* takenAt(1_010)).toBe(1_020)
    }).pipe(Effect.provide(store("20 millis"))))

  it.scoped("empty polls back off (20, 40, 80, then every 100 ms); a poll that finds work resets it", () =>
    Effect.gen(function*() {
      // Polls at 0, 20, 60, 140, 240, 340, …, 940, 1040: an offer at 1010 is found at 1040.
      expect(yield* takenAt(1_010)).toBe(1_040)
      // After that take the wait is 20 ms again: polls at 1040 (+20 → 1060, 1100, 1180, …).
      const queue = yield* PersistedQueue.make({ name: "work", schema: Schema.String })
      yield* queue.offer("b")
      const taker = yield* Effect.fork(queue.take((value) => Effect.succeed(value)))
      yield* TestClock.adjust(20)
      expect(yield* Fiber.join(taker)).toBe("b")
    }).pipe(Effect.provide(store("100 millis"))))
})
