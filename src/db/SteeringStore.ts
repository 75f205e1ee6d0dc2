/** A run's accepted steering actions (issue 17), numbered per run, in the order they were taken. */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer, Schema } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import { ProgramId, type RunId } from "../domain/Ids.js"
import { SteeringAction, SteeringRecord } from "../domain/Steering.js"
import { dbError, transaction } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

const encodeAction = Schema.encodeSync(Schema.parseJson(SteeringAction))
const decodeAction = Schema.decodeUnknownSync(Schema.parseJson(SteeringAction))

export class SteeringStore extends Context.Tag("evolve/SteeringStore")<SteeringStore, {
  /** Stores an accepted action under the next number of the run; returns the stored record. */
  readonly append: (
    runId: RunId,
    action: SteeringAction,
    at: number,
    programId: ProgramId | null
  ) => Effect.Effect<SteeringRecord, DatabaseError>
  /** Every action of a run, oldest first. */
  readonly list: (runId: RunId) => Effect.Effect<ReadonlyArray<SteeringRecord>, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return SteeringStore.of({
    append: Traced.fn("SteeringStore.append")(function*(runId, action, at, programId) {
      return yield* transaction(sql, "store steering action")(Effect.gen(function*() {
        const rows = yield* sql<{ seq: number | string | null }>`SELECT MAX(seq) AS seq FROM steering WHERE run_id = ${runId}`
        // Postgres hands BIGINT columns over as strings.
        const seq = Number(rows[0]?.seq ?? 0) + 1
        yield* sql`INSERT INTO steering ${
          sql.insert({ run_id: runId, seq, at, action: action._tag, program_id: programId, data: encodeAction(action) })
        }`
        return new SteeringRecord({ seq, at, action, programId }, { disableValidation: true })
      }))
    }),

    list: Traced.fn("SteeringStore.list")(function*(runId) {
      const rows = yield* sql<{ seq: number | string; at: number | string; program_id: string | null; data: string }>`
        SELECT seq, at, program_id, data FROM steering WHERE run_id = ${runId} ORDER BY seq`.pipe(
        Effect.mapError(dbError("read steering actions"))
      )
      return rows.map((r) =>
        new SteeringRecord({
          seq: Number(r.seq),
          at: Number(r.at),
          action: decodeAction(r.data),
          programId: r.program_id === null ? null : ProgramId.make(r.program_id)
        }, { disableValidation: true })
      )
    })
  })
})

export const layer: Layer.Layer<SteeringStore, never, SqlClient.SqlClient> = Layer.effect(SteeringStore, make)
