/**
 * The work queue's store (SqlPersistedQueue with polls that back off): a taker waiting on an empty
 * queue polls less and less often, up to `maxPollInterval`, and finds work at once again after a
 * poll that found some. On SQLite in memory, under the TestClock. And on both backends (live
 * clock): an element held is kept locked (its lock renewed), and one done is marked completed
 * (on Postgres by the next poll, in the same statement) or, at the latest, when the store closes.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "../../src/db/SqliteClient.js"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as SqlQueueStore from "../../src/db/SqlQueueStore.js"
import { enabledBackends } from "../support/postgres.js"

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

describe.each(enabledBackends)("SqlQueueStore on $name", (backend) => {
  interface Row {
    readonly id: string
    readonly completed: boolean | number
    readonly attempts: number
    readonly acquired_by: string | null
  }
  const rows = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const read = yield* sql<Row>`SELECT id, completed, attempts, acquired_by FROM q ORDER BY id`
    return read.map((r) => ({ ...r, completed: Boolean(r.completed) }))
  })
  const old = "2000-01-01 00:00:00"

  it.live("renews the locks of held elements, and marks done ones completed by the next poll or at its close", () =>
    Effect.gen(function*() {
      const target = yield* backend.target(yield* (yield* FileSystem.FileSystem).makeTempDirectoryScoped())
      const queueLayer = PersistedQueue.layer.pipe(
        Layer.provide(SqlQueueStore.layerStore({ tableName: "q", pollInterval: "20 millis", lockRefreshInterval: "50 millis", lockExpiration: "60 seconds" }))
      )
      const outside = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provide(effect, Db.layer(target))
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const queue = yield* PersistedQueue.make({ name: "work", schema: Schema.String })
        yield* queue.offer("a", { id: "a" })
        yield* queue.offer("b", { id: "b" })
        // While "a" is held, its lock (made old here) is renewed.
        yield* queue.take(() =>
          Effect.gen(function*() {
            yield* sql`UPDATE q SET acquired_at = ${old} WHERE id = 'a'`
            for (let i = 0; i < 200; i++) {
              const renewed = yield* sql<{ id: string }>`SELECT id FROM q WHERE id = 'a' AND acquired_at > ${old}`
              if (renewed.length === 1) return
              yield* Effect.sleep("10 millis")
            }
            return yield* Effect.dieMessage("the lock of a held element was not renewed")
          })
        )
        // Done: completed now (SQLite) or by the poll that takes "b" (Postgres).
        yield* queue.take(() =>
          Effect.gen(function*() {
            const [a, b] = yield* rows
            expect(a).toMatchObject({ completed: true, attempts: 1, acquired_by: null })
            expect(b).toMatchObject({ completed: false, attempts: 0 })
            expect(b!.acquired_by).not.toBeNull()
          })
        )
      }).pipe(Effect.provide(queueLayer), Effect.provide(Db.layer(target)))
      // "b" was done last: marked completed when the store closed at the latest.
      const [, b] = yield* outside(rows)
      expect(b).toMatchObject({ completed: true, attempts: 1, acquired_by: null })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)), { timeout: 30_000 })
})
