/**
 * Per-model protection around LLM attempts:
 *
 * - {@link AdaptiveLimiter}: a concurrency limit that adapts AIMD-style. A 429 halves the limit
 *   (first clamped to the attempts actually in flight, so the cut bites even when the configured
 *   ceiling is far above real use), never below 1, once per "window": 429s from attempts that
 *   started before the last cut do not cut again. The limit grows by one per round of `limit`
 *   successes (as TCP's congestion window does), or per `increaseAfter` successes when that is
 *   fewer, up to the configured maximum: a low limit recovers in a few round trips, so sporadic
 *   429s no longer pin it near 1 (with 10% random 429s and +1 per 10 successes, the limit
 *   settled near 2 of 8). Waiting is interruptible and permits never leak.
 * - {@link CircuitBreaker}: `failureThreshold` consecutive failed attempts open it for
 *   `cooldownMs`; then exactly one probe attempt is let through (half-open): success closes it,
 *   failure re-opens it for another cool-down. Time comes from `Clock`.
 */
import { Clock, Effect, Ref } from "effect"

// -----------------------------------------------------------------------------
// AIMD adaptive concurrency
// -----------------------------------------------------------------------------

export interface LimiterSnapshot {
  readonly limit: number
  readonly max: number
  readonly inFlight: number
  /** Number of multiplicative decreases so far. */
  readonly decreases: number
}

export interface AdaptiveLimiter {
  /**
   * Runs `use` holding one permit. `use` receives the window number at admission, to pass to
   * `onRateLimited`.
   */
  readonly withPermit: <A, E, R>(use: (window: number) => Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly onSuccess: Effect.Effect<void>
  /** A 429 seen by an attempt admitted in `window`. */
  readonly onRateLimited: (window: number) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<LimiterSnapshot>
}

export const makeAdaptiveLimiter = (options: {
  readonly max: number
  readonly increaseAfter: number
}): Effect.Effect<AdaptiveLimiter> =>
  Effect.sync(() => {
    const max = Math.max(1, Math.floor(options.max))
    const increaseAfter = Math.max(1, Math.floor(options.increaseAfter))
    // Plain state: each change below happens in one synchronous step, which nothing can interleave.
    let limit = max
    let inFlight = 0
    let successes = 0
    let window = 0
    // Fibers waiting for a permit. Each is woken to check again (not handed a permit), so one
    // interrupted while it was being woken takes nothing with it.
    const waiters = new Set<() => void>()
    const wakeAll = () => {
      if (inFlight >= limit || waiters.size === 0) return
      const woken = [...waiters]
      waiters.clear()
      for (const wake of woken) wake()
    }

    const acquire: Effect.Effect<number> = Effect.suspend(() => {
      if (inFlight < limit) {
        inFlight++
        return Effect.succeed(window)
      }
      return Effect.async<number>((resume) => {
        const wake = () => resume(acquire)
        waiters.add(wake)
        return Effect.sync(() => waiters.delete(wake))
      })
    })
    const release = Effect.sync(() => {
      inFlight--
      wakeAll()
    })

    return {
      // Waiting stays interruptible; once admitted, release is guaranteed.
      withPermit: (use) =>
        Effect.uninterruptibleMask((restore) => Effect.flatMap(restore(acquire), (w) => Effect.ensuring(restore(use(w)), release))),
      onSuccess: Effect.sync(() => {
        const s = successes + 1
        const round = Math.min(limit, increaseAfter)
        if (s >= round && limit < max) {
          limit++
          successes = 0
          wakeAll()
        } else {
          successes = Math.min(s, round)
        }
      }),
      onRateLimited: (admittedIn) =>
        Effect.sync(() => {
          if (admittedIn !== window) return // this window was already cut
          limit = Math.max(1, Math.floor(Math.min(limit, Math.max(inFlight, 1)) / 2))
          successes = 0
          window++
        }),
      snapshot: Effect.sync(() => ({ limit, max, inFlight, decreases: window }))
    } satisfies AdaptiveLimiter
  })

// -----------------------------------------------------------------------------
// Circuit breaker
// -----------------------------------------------------------------------------

export type BreakerState =
  | { readonly _tag: "Closed"; readonly failures: number }
  | { readonly _tag: "Open"; readonly until: number }
  | { readonly _tag: "HalfOpen" }

/** What `admit` decided: a normal attempt, the half-open probe, or rejected (open). */
export type Admission = "ok" | "probe" | "rejected"

export interface BreakerOptions {
  /** Consecutive failures that open the breaker; 0 disables it. */
  readonly failureThreshold: number
  readonly cooldownMs: number
}

/** Pure transitions, exported for tests. */
export const Breaker = {
  initial: { _tag: "Closed", failures: 0 } as BreakerState,
  admit: (state: BreakerState, now: number, options: BreakerOptions): readonly [Admission, BreakerState] => {
    if (options.failureThreshold <= 0) return ["ok", state]
    switch (state._tag) {
      case "Closed":
        return ["ok", state]
      case "Open":
        return now >= state.until ? ["probe", { _tag: "HalfOpen" }] : ["rejected", state]
      case "HalfOpen":
        return ["rejected", state]
    }
  },
  success: (_state: BreakerState): BreakerState => ({ _tag: "Closed", failures: 0 }),
  failure: (state: BreakerState, now: number, options: BreakerOptions): BreakerState => {
    if (options.failureThreshold <= 0) return state
    switch (state._tag) {
      case "Closed":
        return state.failures + 1 >= options.failureThreshold
          ? { _tag: "Open", until: now + options.cooldownMs }
          : { _tag: "Closed", failures: state.failures + 1 }
      case "HalfOpen":
        return { _tag: "Open", until: now + options.cooldownMs }
      case "Open":
        return state
    }
  },
  /** A probe that ended without a verdict (interrupted): let the next call probe again. */
  abandonProbe: (state: BreakerState, now: number): BreakerState =>
    state._tag === "HalfOpen" ? { _tag: "Open", until: now } : state,
  /** Whether a call routed here now would be admitted (as a normal attempt or as the probe). */
  available: (state: BreakerState, now: number): boolean =>
    state._tag === "Closed" || (state._tag === "Open" && now >= state.until)
}

export interface CircuitBreaker {
  readonly admit: Effect.Effect<Admission>
  readonly onSuccess: Effect.Effect<void>
  readonly onFailure: Effect.Effect<void>
  readonly abandonProbe: Effect.Effect<void>
  readonly available: Effect.Effect<boolean>
  readonly state: Effect.Effect<BreakerState>
}

export const makeCircuitBreaker = (options: BreakerOptions): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make<BreakerState>(Breaker.initial)
    return {
      admit: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.modify(ref, (s) => Breaker.admit(s, now, options))),
      onSuccess: Ref.update(ref, Breaker.success),
      onFailure: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(ref, (s) => Breaker.failure(s, now, options))),
      abandonProbe: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(ref, (s) => Breaker.abandonProbe(s, now))),
      available: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(Ref.get(ref), (s) => Breaker.available(s, now))),
      state: Ref.get(ref)
    }
  })
