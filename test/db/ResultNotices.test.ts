/**
 * Results announced by the commits of cluster workers (Postgres LISTEN/NOTIFY): the notice carries
 * the candidate and its result (the id alone when the result is too long for NOTIFY), only a
 * commit that happens is announced, and the listener opens its connection again after the
 * server ends it (a restart), saying so with a `Listening` notice.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Queue } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as ResultNotices from "../../src/db/ResultNotices.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import { allStores } from "../support/database.js"
import { freshDatabase, required, unavailable } from "../support/postgres.js"
import { program, specWith } from "../support/runFixtures.js"

const runId = RunId.make("run_notices")
const scored: EvaluationOutcome = { _tag: "Scored", metrics: { score: 2, size: 3 }, score: 2, feedback: "ok", durationMs: 7.5 }
const failed = (message: string): EvaluationOutcome => ({ _tag: "Failed", failure: { kind: "timeout", message }, feedback: null, durationMs: 1 })

describe("ResultNotices payloads", () => {
  it("carry the candidate and its result, or the candidate alone when the result is too long", () => {
    const a = ProgramId.make("a")
    expect(ResultNotices.parse(ResultNotices.payload(a, scored))).toEqual({ _tag: "Evaluated", programId: a, outcome: scored })
    expect(ResultNotices.parse(ResultNotices.payload(a, failed("x")))).toEqual({ _tag: "Evaluated", programId: a, outcome: failed("x") })
    expect(ResultNotices.parse(ResultNotices.payload(a, failed("x".repeat(10_000))))).toEqual({ _tag: "Evaluated", programId: a, outcome: undefined })
    expect(ResultNotices.parse("not json")).toBeUndefined()
  })
})

describe.skipIf(unavailable !== undefined && !required)("ResultNotices on Postgres", () => {
  it.scopedLive("hears the commits that happen, and listens again after the server ends its connection", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      yield* Effect.gen(function*() {
        const db = yield* allStores
        const sql = yield* SqlClient.SqlClient
        const notices = yield* (yield* ResultNotices.ResultNotices).subscribe
        // Its connection listens (it may have said so before this subscription).
        const listeners = sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`
        while ((yield* listeners).length === 0) yield* Effect.sleep("20 millis")
        yield* Queue.takeAll(notices)
        yield* db.createRun(runId, specWith(), 0)
        for (const id of ["a", "b"]) yield* db.insertProgram(program({ id, runId, createdAt: 1 }))
        const [a, b] = [ProgramId.make("a"), ProgramId.make("b")]
        expect(yield* db.commitEvaluation(a, scored, 5, ResultNotices.payload(a, scored))).toBe(true)
        expect(yield* Queue.take(notices)).toEqual({ _tag: "Evaluated", programId: a, outcome: scored })
        // Committed already: no commit, no notice (the next notice is b's).
        expect(yield* db.commitEvaluation(a, failed("again"), 6, ResultNotices.payload(a, failed("again")))).toBe(false)
        // The server ends the listening connection (as a restart does): it is opened again.
        yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`
        expect(yield* Queue.take(notices)).toEqual({ _tag: "Listening" })
        expect(yield* db.commitEvaluation(b, failed("slow"), 7, ResultNotices.payload(b, failed("slow")))).toBe(true)
        expect(yield* Queue.take(notices)).toEqual({ _tag: "Evaluated", programId: b, outcome: failed("slow") })
        expect(Option.isNone(yield* Queue.poll(notices))).toBe(true)
      }).pipe(Effect.provide(Layer.merge(Db.layer(url), ResultNotices.layer(url))))
    }), { timeout: 30_000 })
})
