import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import { Breaker, type BreakerState, makeAdaptiveLimiter, makeCircuitBreaker } from "../../src/llm/Resilience.js"

describe("AdaptiveLimiter (AIMD)", () => {
  it.effect("admits up to the limit; a 429 halves it (clamped to in-flight), never below 1", () =>
    Effect.gen(function*() {
      const limiter = yield* makeAdaptiveLimiter({ max: 8, increaseAfter: 3 })
      const gates = yield* Effect.forEach(Array.from({ length: 10 }), () => Deferred.make<void>())
      const windows: Array<number> = []
      const fibers = yield* Effect.forEach(gates, (gate) =>
        Effect.fork(limiter.withPermit((w) => Effect.zipRight(Effect.sync(() => windows.push(w)), Deferred.await(gate)))))
      yield* Effect.yieldNow()
      expect(yield* limiter.snapshot).toEqual({ limit: 8, max: 8, inFlight: 8, decreases: 0 })

      // One 429 from window 0: 8 in flight → limit 4.
      yield* limiter.onRateLimited(0)
      expect((yield* limiter.snapshot).limit).toBe(4)
      // A second 429 from the same window does not cut again.
      yield* limiter.onRateLimited(0)
      expect((yield* limiter.snapshot).limit).toBe(4)

      // Releasing 5 permits: in flight drops to 3, then the two waiters cannot enter until < 4.
      for (const gate of gates.slice(0, 5)) yield* Deferred.succeed(gate, undefined)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      const s = yield* limiter.snapshot
      expect(s.inFlight).toBe(4) // 3 old + 1 of the 2 waiters (limit 4)
      expect(windows.slice(8)).toEqual([1]) // admitted after the cut: window 1

      // A 429 from window 1 with 4 in flight → 2; again from window 2 → 1; never 0.
      yield* limiter.onRateLimited(1)
      expect((yield* limiter.snapshot).limit).toBe(2)
      yield* limiter.onRateLimited(2)
      expect((yield* limiter.snapshot).limit).toBe(1)
      yield* limiter.onRateLimited(3)
      expect((yield* limiter.snapshot).limit).toBe(1)

      for (const gate of gates) yield* Deferred.succeed(gate, undefined)
      yield* Effect.forEach(fibers, Fiber.join)
      expect((yield* limiter.snapshot).inFlight).toBe(0)
    }))

  it.effect("grows back by one per round of `limit` successes, at most N per step, up to the maximum", () =>
    Effect.gen(function*() {
      const limiter = yield* makeAdaptiveLimiter({ max: 6, increaseAfter: 3 })
      yield* limiter.withPermit((w) => limiter.onRateLimited(w)) // 1 in flight → limit max(1, 0) = 1
      expect((yield* limiter.snapshot).limit).toBe(1)
      const limits: Array<number> = []
      for (let i = 0; i < 14; i++) {
        yield* limiter.onSuccess
        limits.push((yield* limiter.snapshot).limit)
      }
      // 1 → 2 after one success, 2 → 3 after two, then every three (N) up to the maximum.
      expect(limits).toEqual([2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6])
    }))

  it.effect("an interrupted waiter leaks no permit", () =>
    Effect.gen(function*() {
      const limiter = yield* makeAdaptiveLimiter({ max: 1, increaseAfter: 1 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(limiter.withPermit(() => Deferred.await(gate)))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(limiter.withPermit(() => Effect.void))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiter)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      expect((yield* limiter.snapshot).inFlight).toBe(0)
      yield* limiter.withPermit(() => Effect.void)
    }))
})

describe("CircuitBreaker", () => {
  const options = { failureThreshold: 3, cooldownMs: 10_000 }

  it("pure transitions: closed → open after K failures → half-open probe → closed / open", () => {
    let s: BreakerState = Breaker.initial
    s = Breaker.failure(s, 0, options)
    s = Breaker.failure(s, 0, options)
    expect(s).toEqual({ _tag: "Closed", failures: 2 })
    s = Breaker.success(s)
    expect(s).toEqual({ _tag: "Closed", failures: 0 })
    s = Breaker.failure(Breaker.failure(Breaker.failure(s, 0, options), 0, options), 100, options)
    expect(s).toEqual({ _tag: "Open", until: 10_100 })
    expect(Breaker.admit(s, 5_000, options)[0]).toBe("rejected")
    expect(Breaker.available(s, 5_000)).toBe(false)
    const [probe, half] = Breaker.admit(s, 10_100, options)
    expect(probe).toBe("probe")
    expect(half).toEqual({ _tag: "HalfOpen" })
    expect(Breaker.admit(half, 10_200, options)[0]).toBe("rejected") // one probe at a time
    expect(Breaker.available(half, 10_200)).toBe(false)
    expect(Breaker.failure(half, 11_000, options)).toEqual({ _tag: "Open", until: 21_000 })
    expect(Breaker.success(half)).toEqual({ _tag: "Closed", failures: 0 })
    expect(Breaker.abandonProbe(half, 12_000)).toEqual({ _tag: "Open", until: 12_000 })
    // threshold 0 disables it
    const off = { failureThreshold: 0, cooldownMs: 1 }
    expect(Breaker.failure(Breaker.initial, 0, off)).toEqual(Breaker.initial)
  })

  it.effect("uses Clock for the cool-down", () =>
    Effect.gen(function*() {
      const breaker = yield* makeCircuitBreaker(options)
      for (let i = 0; i < 3; i++) yield* breaker.onFailure
      expect(yield* breaker.admit).toBe("rejected")
      yield* TestClock.adjust("9 seconds")
      expect(yield* breaker.available).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.available).toBe(true)
      expect(yield* breaker.admit).toBe("probe")
      expect(yield* breaker.admit).toBe("rejected")
      yield* breaker.onFailure
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust("10 seconds")
      expect(yield* breaker.admit).toBe("probe")
      yield* breaker.onSuccess
      expect(yield* breaker.state).toEqual({ _tag: "Closed", failures: 0 })
      expect(yield* breaker.admit).toBe("ok")
    }))
})
