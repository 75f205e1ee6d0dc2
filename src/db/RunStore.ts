/** Runs: created, read, their status and host (which process drives them). */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import { type DatabaseError, RunNotFound } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { RunSpec } from "../domain/RunConfig.js"
import type { RunStatus } from "../domain/RunEvent.js"
import type { RunRecord } from "./Records.js"
import { dbError, encodeSpec, type RunRow, toRun } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class RunStore extends Context.Tag("evolve/RunStore")<RunStore, {
  readonly createRun: (id: RunId, spec: RunSpec, at: number) => Effect.Effect<void, DatabaseError>
  readonly getRun: (id: string) => Effect.Effect<RunRecord, DatabaseError | RunNotFound>
  readonly setRunStatus: (id: RunId, status: RunStatus, reason: string | null, at: number) => Effect.Effect<void, DatabaseError>
  /** Replaces a run's stored spec (a run extended with more evaluations keeps its new maximum). */
  readonly setRunSpec: (id: RunId, spec: RunSpec, at: number) => Effect.Effect<void, DatabaseError>
  /** Marks which host drives a run ("serve"), so a restarted server resumes only its own runs. */
  readonly setRunHost: (runId: RunId, host: string | null) => Effect.Effect<void, DatabaseError>
  /** Runs driven by `host` that were active when it stopped: still running/stopping, or stopped with `reason`. */
  readonly runsToRecover: (host: string, reason: string) => Effect.Effect<ReadonlyArray<RunRecord>, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return RunStore.of({
    createRun: Traced.fn("RunStore.createRun")(function*(id, spec, at) {
      yield* sql`INSERT INTO runs ${
        sql.insert({ id, created_at: at, updated_at: at, status: "running", stop_reason: null, spec: encodeSpec(spec) })
      }`.pipe(Effect.mapError(dbError("create run")))
    }),

    getRun: Traced.fn("RunStore.getRun")(function*(id) {
      const rows = yield* sql<RunRow>`SELECT * FROM runs WHERE id = ${id}`.pipe(Effect.mapError(dbError("read run")))
      if (rows.length === 0) return yield* new RunNotFound({ runId: id })
      return toRun(rows[0]!)
    }),

    setRunStatus: Traced.fn("RunStore.setRunStatus")(function*(id, status, reason, at) {
      yield* sql`UPDATE runs SET status = ${status}, stop_reason = ${reason}, updated_at = ${at} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("update run status"))
      )
    }),

    setRunSpec: Traced.fn("RunStore.setRunSpec")(function*(id, spec, at) {
      yield* sql`UPDATE runs SET spec = ${encodeSpec(spec)}, updated_at = ${at} WHERE id = ${id}`.pipe(
        Effect.mapError(dbError("update run spec"))
      )
    }),

    setRunHost: Traced.fn("RunStore.setRunHost")(function*(runId, host) {
      yield* sql`UPDATE runs SET host = ${host} WHERE id = ${runId}`.pipe(Effect.mapError(dbError("update run host")))
    }),

    runsToRecover: Traced.fn("RunStore.runsToRecover")(function*(host, reason) {
      const rows = yield* sql<RunRow>`SELECT * FROM runs WHERE host = ${host}
        AND (status IN ('running', 'stopping') OR (status = 'interrupted' AND stop_reason = ${reason}))
        ORDER BY created_at`.pipe(Effect.mapError(dbError("find runs to recover")))
      return rows.map(toRun)
    })
  })
})

export const layer: Layer.Layer<RunStore, never, SqlClient.SqlClient> = Layer.effect(RunStore, make)
