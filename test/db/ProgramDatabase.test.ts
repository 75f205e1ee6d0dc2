import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import type { LlmOutcome } from "../../src/db/Records.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import { program, specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { enabledBackends } from "../support/postgres.js"

const runId = RunId.make("run_test")

describe.each(enabledBackends)("ProgramDatabase on $name", (backend) => {
  const newTarget = Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* backend.target(yield* fs.makeTempDirectoryScoped())
  })

  const withDatabase = <A, E>(f: (target: string) => Effect.Effect<A, E, Db.ProgramDatabase | SqlClient.SqlClient>) =>
    Effect.gen(function*() {
      const target = yield* newTarget
      return yield* f(target).pipe(Effect.provide(Db.layer(target)))
    }).pipe(Effect.provide(NodeContext.layer))

  it.scoped("round-trips runs and programs, and commits an evaluation exactly once", () =>
    withDatabase(() =>
      Effect.gen(function*() {
        const db = yield* allStores
        const spec = specWith({ max_evaluations: 7, goal: "go fast" })
        yield* db.createRun(runId, spec, 1000)
        const run = yield* db.getRun(runId)
        expect(run.spec.config.max_evaluations).toBe(7)
        expect(run.spec.config.goal).toBe("go fast")
        expect(run.status).toBe("running")

        const p = program({ id: "p1", runId, createdAt: 1001 })
        yield* db.insertProgram(p, {
          id: "p1.llm",
          runId,
          purpose: "proposal",
          programId: p.id,
          model: "m",
          inputTokens: 10,
          outputTokens: 5,
          usd: 0.25,
          latencyMs: 12,
          attempts: 2,
          outcome: "ok",
          errorKind: null,
          errorMessage: null,
          createdAt: 1001
        })
        expect(yield* db.getProgram("p1")).toEqual(p)

        const scored = { _tag: "Scored", metrics: { score: 3, other: 1 }, score: 3, feedback: "warn", durationMs: 40 } as const
        expect(yield* db.commitEvaluation(p.id, scored, 1002)).toBe(true)
        // A second commit (e.g. a re-run after a crash) must not overwrite the committed result.
        expect(yield* db.commitEvaluation(p.id, { _tag: "Failed", failure: { kind: "timeout", message: "x" }, feedback: null, durationMs: 1 }, 1003)).toBe(false)
        const stored = yield* db.getProgram("p1")
        expect(stored.status).toBe("evaluated")
        expect(stored.metrics).toEqual({ score: 3, other: 1 })
        expect(stored.score).toBe(3)
        expect(stored.evaluatedAt).toBe(1002)

        const usage = yield* db.usageByModel(runId)
        expect(usage).toEqual([{ model: "m", calls: 1, errors: 0, inputTokens: 10, outputTokens: 5, usd: 0.25 }])
        const [overview] = yield* db.listRuns
        expect(overview).toMatchObject({ evaluated: 1, failed: 0, pending: 0, bestScore: 3, usd: 0.25 })
        expect(yield* Effect.flip(db.getProgram("nope"))).toMatchObject({ _tag: "ProgramNotFound" })
        expect(yield* Effect.flip(db.getRun("nope"))).toMatchObject({ _tag: "RunNotFound" })
      })
    ))

  it.scoped("stores a candidate with its LLM call and transcripts all together, or none of them", () =>
    withDatabase(() =>
      Effect.gen(function*() {
        const db = yield* allStores
        const sql = yield* SqlClient.SqlClient
        yield* db.createRun(runId, specWith(), 0)
        const call = (id: string, programId: string) => ({
          id, runId, purpose: "proposal" as const, programId: ProgramId.make(programId), model: "m", inputTokens: 1, outputTokens: 2,
          usd: 0, latencyMs: 3, attempts: 1, outcome: "ok" as const, errorKind: null, errorMessage: null, createdAt: 1
        })
        const transcript = (programId: string, attempt: number) =>
          ({ programId, runId, attempt, model: "m", system: "s", user: `u${attempt}`, response: "r", createdAt: 1 })
        const a = program({ id: "a", runId, createdAt: 1, code: "x = 1\n" })
        yield* db.insertProgram(a, call("a.llm", "a"), [transcript("a", 0), transcript("a", 1)])
        expect(yield* db.getProgram("a")).toEqual(a)
        expect((yield* db.llmCallsForProgram("a")).map((c) => c.id)).toEqual(["a.llm"])
        const count = (table: string) => Effect.map(sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM ${sql(table)}`, (r) => Number(r[0]!.n))
        expect(yield* count("program_transcripts")).toBe(2)
        // The LLM call's id is taken: nothing of candidate b is stored.
        const failed = yield* Effect.flip(db.insertProgram(program({ id: "b", runId, createdAt: 2 }), call("a.llm", "b"), [transcript("b", 0)]))
        expect(failed._tag).toBe("DatabaseError")
        expect(yield* Effect.flip(db.getProgram("b"))).toMatchObject({ _tag: "ProgramNotFound" })
        expect([yield* count("programs"), yield* count("llm_calls"), yield* count("program_transcripts")]).toEqual([1, 1, 2])
      })
    ))

  it.scoped("loads the state a resume needs: population, pending, counts by stage", () =>
    withDatabase(() =>
      Effect.gen(function*() {
        const db = yield* allStores
        yield* db.createRun(runId, specWith(), 0)
        const rows = [
          program({ id: "p0", runId, createdAt: 1 }),
          program({ id: "p1", runId, parentId: ProgramId.make("p0"), createdAt: 2 }),
          program({ id: "p2", runId, parentId: ProgramId.make("p0"), createdAt: 3 }),
          program({ id: "p3", runId, parentId: ProgramId.make("p0"), createdAt: 4 }),
          program({ id: "p4", runId, parentId: ProgramId.make("p0"), createdAt: 5, status: "failed", code: "", codeHash: "", failure: { kind: "patch", message: "no match" } })
        ]
        for (const p of rows) yield* db.insertProgram(p)
        yield* db.commitEvaluation(ProgramId.make("p0"), { _tag: "Scored", metrics: { score: 1 }, score: 1, feedback: null, durationMs: 1 }, 10)
        yield* db.commitEvaluation(ProgramId.make("p1"), { _tag: "Scored", metrics: { score: 5 }, score: 5, feedback: null, durationMs: 1 }, 11)
        yield* db.commitEvaluation(ProgramId.make("p2"), { _tag: "Failed", failure: { kind: "timeout", message: "slow" }, feedback: null, durationMs: 1 }, 12)

        const state = yield* db.loadRun(runId)
        expect(state.population.map((e) => [e.id, e.score])).toEqual([["p1", 5], ["p0", 1]])
        expect(state.pending.map((p) => p.id)).toEqual(["p3"])
        // Scored + evaluator failures count as evaluations; a patch failure never reached the evaluator.
        expect(state.evaluations).toBe(3)
        expect(state.failuresByKind).toEqual({ timeout: 1, patch: 1 })
        expect(state.initialProgramId).toBe("p0")
        expect(new Set(state.codeHashes)).toEqual(new Set(["hash-p0", "hash-p1", "hash-p2", "hash-p3"]))
        expect((yield* db.recentFailures(runId, 5)).map((p) => p.id)).toEqual(["p4", "p2"])
        expect((yield* db.bestPrograms(runId, 1))[0]!.id).toBe("p1")
      })
    ))

  it.scoped("counts evaluation starts of pending candidates only, and reads several programs in one call", () =>
    withDatabase(() =>
      Effect.gen(function*() {
        const db = yield* allStores
        yield* db.createRun(runId, specWith(), 0)
        for (const id of ["a", "b", "c"]) yield* db.insertProgram(program({ id, runId, createdAt: id.charCodeAt(0) }))
        const [a, b] = [ProgramId.make("a"), ProgramId.make("b")]
        expect(yield* db.startEvaluation(a)).toBe(1)
        expect(yield* db.startEvaluation(a)).toBe(2)
        expect(yield* db.startEvaluation(b)).toBe(1)
        yield* db.commitEvaluation(b, { _tag: "Scored", metrics: { score: 2 }, score: 2, feedback: null, durationMs: 1 }, 5)
        // A committed candidate is no longer counted.
        expect(yield* db.startEvaluation(b)).toBe(0)
        // A worker's start and read in one: counted and returned while pending, nothing once committed or unknown.
        const c = ProgramId.make("c")
        expect(yield* db.startPending(c)).toEqual(yield* db.getProgram("c"))
        expect((yield* db.startPending(c))?.code).toBe((yield* db.getProgram("c")).code)
        expect(yield* db.startPending(b)).toBeUndefined()
        expect(yield* db.startPending(ProgramId.make("nope"))).toBeUndefined()
        const state = yield* db.loadRun(runId)
        expect(state.pending.map((p) => p.id)).toEqual(["a", "c"])
        expect([...state.evaluationStarts]).toEqual([["a", 2], ["c", 2]])

        const rows = yield* db.getPrograms(["c", "b", "a", "b"])
        expect(rows.map((p) => p.id)).toEqual(["c", "b", "a", "b"])
        expect(rows[1]).toEqual(yield* db.getProgram("b"))
        expect(yield* db.getPrograms([])).toEqual([])
        expect(yield* Effect.flip(db.getPrograms(["a", "nope"]))).toMatchObject({ _tag: "ProgramNotFound", programId: "nope" })
      })
    ))

  it.scoped("llmOutcomes gives the same improvements with the parent scores passed in as read from the database", () =>
    withDatabase(() =>
      Effect.gen(function*() {
        const db = yield* allStores
        yield* db.createRun(runId, specWith(), 0)
        const llm = { model: "m", inputTokens: 1, outputTokens: 1, usd: 0.5, latencyMs: 1, attempts: 1 }
        const scored = (score: number) => ({ _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 1 }) as const
        yield* db.insertProgram(program({ id: "root", runId, createdAt: 0 }))
        yield* db.commitEvaluation(ProgramId.make("root"), scored(2), 1)
        yield* db.insertProgram(program({ id: "c1", runId, parentId: "root", createdAt: 2, llm }))
        yield* db.commitEvaluation(ProgramId.make("c1"), scored(5), 3)
        yield* db.insertProgram(program({ id: "c2", runId, parentId: "c1", createdAt: 4, llm }))
        yield* db.commitEvaluation(ProgramId.make("c2"), scored(4), 5)
        const fromDb = yield* db.llmOutcomes(runId)
        const scores = new Map([["root", 2], ["c1", 5], ["c2", 4]])
        const passed = yield* db.llmOutcomes(runId, (id) => scores.get(id))
        const sort = (xs: ReadonlyArray<LlmOutcome>) => [...xs].sort((a, b) => a.improvement - b.improvement)
        expect(sort(fromDb)).toEqual([{ model: "m", improvement: -1, usd: 0.5 }, { model: "m", improvement: 3, usd: 0.5 }])
        expect(sort(passed)).toEqual(sort(fromDb))
      })
    ))

  it.scopedLive("is migrated once when several processes open a new database at the same moment", () =>
    Effect.gen(function*() {
      const target = yield* newTarget
      const open = Effect.scoped(Effect.flatMap(Layer.build(Db.layer(target)), (ctx) =>
        Effect.provide(Effect.flatMap(allStores, (db) => db.listRuns), ctx)))
      const opened = yield* Effect.all([open, open, open], { concurrency: "unbounded" })
      expect(opened).toEqual([[], [], []])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("reopens an existing database without re-running migrations", () =>
    Effect.gen(function*() {
      const target = yield* newTarget
      const useOnce = <A, E>(eff: Effect.Effect<A, E, Db.ProgramDatabase>) => Effect.scoped(Layer.build(Db.layer(target)).pipe(Effect.flatMap((ctx) => Effect.provide(eff, ctx))))
      yield* useOnce(Effect.flatMap(allStores, (db) => db.createRun(runId, specWith(), 0)))
      const runs = yield* useOnce(Effect.flatMap(allStores, (db) => db.listRuns))
      expect(runs.map((r) => r.id)).toEqual([runId])
      yield* Db.check(target)
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("ProgramDatabase on SQLite", () => {
  it.live("reports a database that cannot be opened as a DatabaseError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.provide(allStores, Db.layer("/etc/passwd/evolve.db")))
      expect(error._tag).toBe("DatabaseError")
      expect(error.message).toMatch(/\/etc\/passwd\/evolve.db/)
    }))
})
