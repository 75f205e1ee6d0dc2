/**
 * The work queue's lock timings: a worker renews its locks well within their expiration, and
 * the expiration is configurable (EVOLVE_QUEUE_LOCK_EXPIRATION), a bad value said and ignored.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import * as EvaluationQueue from "../../src/engine/EvaluationQueue.js"

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("EvaluationQueue lock timings", () => {
  it("renews a lock at a quarter of its expiration, at most every 10 s", () => {
    expect(Duration.toMillis(EvaluationQueue.lockRefreshInterval(Duration.seconds(60)))).toBe(10_000)
    expect(Duration.toMillis(EvaluationQueue.lockRefreshInterval(Duration.seconds(8)))).toBe(2_000)
  })

  it.effect("takes the expiration from EVOLVE_QUEUE_LOCK_EXPIRATION, else 60 s", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) => Effect.map(EvaluationQueue.configuredLockExpiration.pipe(withEnv(env)), Duration.toMillis)
      expect(yield* read({})).toBe(60_000)
      expect(yield* read({ EVOLVE_QUEUE_LOCK_EXPIRATION: "15 seconds" })).toBe(15_000)
      // Below the floor a live worker could lose its lock: the floor is used.
      expect(yield* read({ EVOLVE_QUEUE_LOCK_EXPIRATION: "1 second" })).toBe(4_000)
      expect(yield* read({ EVOLVE_QUEUE_LOCK_EXPIRATION: "soon" })).toBe(60_000)
    }))
})
