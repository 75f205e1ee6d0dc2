import { describe, expect, it } from "@effect/vitest"
import { Chunk, Data, Effect, Fiber, Ref, Stream, TestClock } from "effect"
import * as BatchProcessor from "../../src/batch/BatchProcessor.js"
import { BatchDefect, BatchTimeout, RetryableError } from "../../src/batch/BatchProcessor.js"

class Permanent extends Data.TaggedError("Permanent")<{ readonly index: number }> {}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("BatchProcessor (Effect)", () => {
  it.effect("emits in completion order by default and in input order when asked", () =>
    Effect.gen(function*() {
      // Item i takes (10 - i) × 100 ms: the last item finishes first.
      const fn = (i: number) => Effect.as(Effect.sleep((10 - i) * 100), i * i)
      const unordered = yield* BatchProcessor.stream(range(10), fn, { concurrency: 10 }).pipe(Stream.runCollect, Effect.fork)
      const ordered = yield* BatchProcessor.stream(range(10), fn, { concurrency: 10, ordered: true }).pipe(
        Stream.runCollect,
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      const u = Chunk.toReadonlyArray(yield* Fiber.join(unordered))
      const o = Chunk.toReadonlyArray(yield* Fiber.join(ordered))
      expect(u.map((r) => r.index)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
      expect(o.map((r) => r.index)).toEqual(range(10))
      expect(o.map((r) => r.ok && r.value)).toEqual(range(10).map((i) => i * i))
    }))

  it.effect("streams each result as soon as it is ready", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<number>>([])
      const fiber = yield* BatchProcessor.stream(range(4), (i) => Effect.as(Effect.sleep((i + 1) * 1000), i), { concurrency: 4 }).pipe(
        Stream.runForEach((r) => Ref.update(seen, (xs) => [...xs, r.index])),
        Effect.fork
      )
      yield* TestClock.adjust("1500 millis")
      expect(yield* Ref.get(seen)).toEqual([0])
      yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(seen)).toEqual([0, 1])
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(yield* Ref.get(seen)).toEqual([0, 1, 2, 3])
    }))

  it.effect("returns failures per item without failing the batch, retrying only retryable errors", () =>
    Effect.gen(function*() {
      const calls = new Map<number, number>()
      const fn = (i: number) =>
        Effect.suspend((): Effect.Effect<string, Permanent | RetryableError> => {
          const n = (calls.get(i) ?? 0) + 1
          calls.set(i, n)
          if (i % 3 === 1) return Effect.fail(new Permanent({ index: i }))
          if (i % 3 === 2 && n < 3) return Effect.fail(new RetryableError({ message: "overloaded" }))
          return Effect.as(Effect.sleep(10), `ok ${i}`)
        })
      const fiber = yield* BatchProcessor.run(range(9), fn, {
        concurrency: 3,
        retry: { times: 5, baseDelay: "500 millis", jitter: false }
      }).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { results, summary } = yield* Fiber.join(fiber)
      expect(results.map((r) => r.index)).toEqual(range(9))
      for (const r of results) {
        if (r.index % 3 === 1) {
          expect(r).toMatchObject({ _tag: "Failure", ok: false, attempts: 1 })
          expect(r._tag === "Failure" && r.error).toBeInstanceOf(Permanent)
        } else if (r.index % 3 === 2) {
          // two failures, backoff 500 ms then 1000 ms, then the 10 ms of work
          expect(r).toMatchObject({ _tag: "Success", attempts: 3, durationMs: 1510 })
        } else {
          expect(r).toMatchObject({ _tag: "Success", value: `ok ${r.index}`, attempts: 1 })
        }
      }
      expect(summary).toMatchObject({ total: 9, succeeded: 6, failed: 3, retries: 6 })
    }))

  it.effect("gives up after the retry budget and never retries without a policy", () =>
    Effect.gen(function*() {
      const always = () => Effect.fail(new RetryableError({ message: "down" }))
      const fiber = yield* BatchProcessor.run([0], always, { retry: { times: 2, jitter: false } }).pipe(Effect.fork)
      const noPolicy = yield* BatchProcessor.run([0], always).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).results[0]).toMatchObject({ ok: false, attempts: 3 })
      expect((yield* Fiber.join(noPolicy)).results[0]).toMatchObject({ ok: false, attempts: 1 })
    }))

  it.effect("a custom `while` decides what is retryable", () =>
    Effect.gen(function*() {
      let n = 0
      const fn = () => Effect.suspend(() => (++n < 2 ? Effect.fail(new Permanent({ index: 0 })) : Effect.succeed("done")))
      const fiber = yield* BatchProcessor.run([0], fn, {
        retry: { times: 3, jitter: false, while: (e) => e._tag === "Permanent" }
      }).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).results[0]).toMatchObject({ ok: true, value: "done", attempts: 2 })
    }))

  it.effect("times out attempts (retryable by default) and reports defects", () =>
    Effect.gen(function*() {
      const fn = (i: number) => i === 0 ? Effect.as(Effect.sleep("1 hour"), "late") : Effect.die(new Error("boom"))
      const fiber = yield* BatchProcessor.run([0, 1], fn, {
        timeout: "1 second",
        retry: { times: 1, baseDelay: 100, jitter: false }
      }).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      const [timedOut, died] = results
      expect(timedOut).toMatchObject({ ok: false, attempts: 2, durationMs: 2100 })
      expect(timedOut!._tag === "Failure" && timedOut!.error).toBeInstanceOf(BatchTimeout)
      expect(died).toMatchObject({ ok: false, attempts: 1 })
      expect(died!._tag === "Failure" && died!.error).toBeInstanceOf(BatchDefect)
      expect(died!._tag === "Failure" && (died!.error as BatchDefect).message).toContain("boom")
    }))

  it.effect("bounds concurrency and reports queue wait and concurrency level", () =>
    Effect.gen(function*() {
      const active = yield* Ref.make({ now: 0, max: 0 })
      const fn = (i: number) =>
        Ref.update(active, (a) => ({ now: a.now + 1, max: Math.max(a.max, a.now + 1) })).pipe(
          Effect.zipRight(Effect.sleep(100)),
          Effect.zipRight(Ref.update(active, (a) => ({ ...a, now: a.now - 1 }))),
          Effect.as(i)
        )
      const fiber = yield* BatchProcessor.run(range(6), fn, { concurrency: 2, ordered: true }).pipe(Effect.fork)
      yield* TestClock.adjust("1 second")
      const { results, summary } = yield* Fiber.join(fiber)
      expect((yield* Ref.get(active)).max).toBe(2)
      expect(results.map((r) => r.queueWaitMs)).toEqual([0, 0, 100, 100, 200, 200])
      expect(results.every((r) => r.concurrency <= 2)).toBe(true)
      expect(summary).toMatchObject({ total: 6, maxConcurrency: 2, maxQueueWaitMs: 200, meanDurationMs: 100, elapsedMs: 300 })
      expect(summary.meanQueueWaitMs).toBe(100)
    }))

  it.effect("reads a Stream source and calls onResult per result", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const { results } = yield* BatchProcessor.run(Stream.range(1, 5), (n) => Effect.succeed(n * 10), {
        ordered: true,
        onResult: (r) => Effect.sync(() => seen.push(r.index))
      })
      expect(results.map((r) => r.ok && r.value)).toEqual([10, 20, 30, 40, 50])
      expect(seen).toEqual([0, 1, 2, 3, 4])
    }))
})
