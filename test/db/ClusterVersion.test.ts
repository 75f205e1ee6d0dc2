import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as ClusterVersion from "../../src/db/ClusterVersion.js"
import { enabledBackends } from "../support/postgres.js"

describe.each(enabledBackends)("ClusterVersion on $name", (backend) => {
  it.effect("takes the newest control process's version as the cluster's, and refuses another major.minor in one line", () =>
    Effect.gen(function*() {
      // No control process yet: nothing to compare with.
      expect(yield* ClusterVersion.current).toEqual(Option.none())
      yield* ClusterVersion.check("0.1.0")

      yield* ClusterVersion.record("0.1.0", 1_000)
      yield* ClusterVersion.record("0.2.3", 2_000)
      expect(yield* ClusterVersion.current).toEqual(Option.some("0.2.3"))
      const refused = yield* Effect.either(ClusterVersion.check("0.1.0"))
      expect(Either.isLeft(refused)).toBe(true)
      if (Either.isLeft(refused)) {
        expect(refused.left.message).toBe(
          "this evolve is version 0.1.0, the cluster's control processes run 0.2.3: a worker needs the same 0.2.x release (install evolve 0.2.x on this machine)"
        )
      }
      yield* ClusterVersion.check("0.2.0") // a patch release of the same line

      // A control process of 0.1.0 started again, last: the cluster runs 0.1.0 now.
      yield* ClusterVersion.record("0.1.0", 3_000)
      expect(yield* ClusterVersion.current).toEqual(Option.some("0.1.0"))
      yield* ClusterVersion.check("0.1.9")
      expect(Either.isLeft(yield* Effect.either(ClusterVersion.check("0.2.3")))).toBe(true)
    }).pipe(Effect.provide(backend.layer)))

  it.effect("reads a database whose schema predates the table as one without a recorded version", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP TABLE cluster_versions`
      expect(yield* ClusterVersion.current).toEqual(Option.none())
      yield* ClusterVersion.check("9.9.9")
    }).pipe(Effect.provide(backend.layer)))
})
