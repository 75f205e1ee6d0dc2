/**
 * The schema a database was last migrated to, against the one this evolve knows: an older evolve
 * (a worker not yet upgraded, say) must not write to a database a newer one has reshaped.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { DatabaseError } from "../domain/Errors.js"
import { migrations } from "./migrations.js"
import { dbError } from "./Rows.js"

/** The highest migration this build of evolve has. */
export const knownSchema = Math.max(...Object.keys(migrations).map((name) => Number.parseInt(name, 10)))

/** Fails when the database was migrated past what this evolve knows. */
export const checkSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ id: number | string | null }>`SELECT MAX(migration_id) AS id FROM effect_sql_migrations`.pipe(
    Effect.mapError(dbError("read schema version"))
  )
  const schema = Number(rows[0]?.id ?? 0)
  if (schema > knownSchema) {
    return yield* new DatabaseError({
      operation: "open database",
      message: `the database's schema is version ${schema}, newer than this evolve knows (${knownSchema}): upgrade evolve on this machine`
    })
  }
})
