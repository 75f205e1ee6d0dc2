/**
 * Processes joining a cluster on a fresh Postgres database at the same moment: each one's setup
 * (evolve's migrations, @effect/cluster's tables, the work queue's table) must not trip over the
 * others' `CREATE TABLE IF NOT EXISTS` (Postgres raises duplicate pg_type errors for racing ones).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as ClusterRuntime from "../../src/engine/ClusterRuntime.js"
import { freshDatabase, required, unavailable } from "../support/postgres.js"

describe.skipIf(unavailable !== undefined && !required)("cluster setup on a fresh Postgres database", () => {
  it.live("six clients set up at once all succeed", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const results = yield* Effect.all(
        Array.from({ length: 6 }, () => Effect.scoped(Layer.build(ClusterRuntime.client(url))).pipe(Effect.either)),
        { concurrency: "unbounded" }
      )
      const failures = results.flatMap((r) => (r._tag === "Left" ? [String((r.left as { message?: string }).message ?? r.left)] : []))
      expect(failures).toEqual([])
    }), 60_000)
})
