/**
 * Column types of the migrations, one convention per dialect, so the same CREATE TABLE runs on
 * SQLite (the default) and Postgres (DESIGN §8):
 * - `int`: small integers (islands, generations, counters, token counts of a call, 0/1 flags —
 *   stored as integers on both, so they read back as JS numbers, never as booleans);
 * - `bigint`: millisecond timestamps (past 2^31); Postgres returns them as strings, which the
 *   stores read through `Rows.int`;
 * - `double`: scores, durations, costs (SQLite's REAL is already 8 bytes; Postgres's is 4);
 * - `text`: ids, JSON documents, code.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"

export interface ColumnTypes {
  readonly int: Statement.Fragment
  readonly bigint: Statement.Fragment
  readonly double: Statement.Fragment
  readonly text: Statement.Fragment
}

const types = (t: Record<keyof ColumnTypes, string>): ColumnTypes => ({
  int: Statement.unsafeFragment(t.int),
  bigint: Statement.unsafeFragment(t.bigint),
  double: Statement.unsafeFragment(t.double),
  text: Statement.unsafeFragment(t.text)
})

const sqlite = types({ int: "INTEGER", bigint: "INTEGER", double: "REAL", text: "TEXT" })
const postgres = types({ int: "INTEGER", bigint: "BIGINT", double: "DOUBLE PRECISION", text: "TEXT" })

/** The column types of the client's dialect (SQLite's for every dialect but Postgres). */
export const columnTypes = (sql: SqlClient.SqlClient): ColumnTypes => sql.onDialectOrElse({ pg: () => postgres, orElse: () => sqlite })
