/**
 * The evolve version of a cluster (issue 16): each control process (`evolve serve --db
 * postgres://…`, a runner hosting runs) records its version when it starts, and a worker compares
 * its own with the newest recorded one before it touches the database: a worker of another
 * major.minor (domain/Version.ts) is refused with one line instead of misreading the cluster's
 * messages. One row per version, stamped with the last start of a control process running it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Option } from "effect"
import { DatabaseError } from "../domain/Errors.js"
import { compatibleVersions, featureLine } from "../domain/Version.js"
import { dbError } from "./Rows.js"

/** Records that a control process of evolve `version` started at `at` (epoch ms). */
export const record = (version: string, at: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO cluster_versions (version, recorded_at) VALUES (${version}, ${at})
      ON CONFLICT (version) DO UPDATE SET recorded_at = excluded.recorded_at`.pipe(
      Effect.mapError(dbError("record the cluster's version"))
    )
  })

/**
 * The version of the cluster's newest control process; none when no control process has started
 * on this database yet (or its schema predates the table: nothing recorded either).
 */
export const current = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ version: string }>`SELECT version FROM cluster_versions ORDER BY recorded_at DESC, version DESC LIMIT 1`.pipe(
    Effect.map(Option.some),
    Effect.catchAll((error) =>
      /cluster_versions" does not exist|no such table: cluster_versions/.test(`${error.message} ${String(error.cause)}`)
        ? Effect.succeed(Option.none())
        : Effect.fail(dbError("read the cluster's version")(error))
    )
  )
  return Option.flatMap(rows, (r) => Option.fromNullable(r[0]?.version))
})

/** Fails, in one line naming both versions, when the cluster runs an evolve `version` cannot work with. */
export const check = (version: string) =>
  Effect.gen(function*() {
    const cluster = yield* current
    if (Option.isSome(cluster) && !compatibleVersions(version, cluster.value)) {
      return yield* new DatabaseError({
        operation: "check cluster version",
        message: `this evolve is version ${version}, the cluster's control processes run ${cluster.value}: a worker needs the same ${
          featureLine(cluster.value)
        }.x release (install evolve ${featureLine(cluster.value)}.x on this machine)`
      })
    }
  })
