/**
 * Every store on both backends (SQLite and Postgres) gives back the same JS values: timestamps
 * past 2^31 and counts as numbers (Postgres returns BIGINT and COUNT as strings), 0/1 flags,
 * scores as doubles, conflicts ignored the same way, LIKE with escaped wildcards.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ExploreQueries } from "../../src/db/ExploreQueries.js"
import * as LlmCacheStore from "../../src/db/LlmCacheStore.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import { allStores } from "../support/database.js"
import { enabledBackends } from "../support/postgres.js"
import { program, specWith } from "../support/runFixtures.js"

const runId = RunId.make("run_portable")
/** A millisecond timestamp of 2025: past 2^31, so a BIGINT on Postgres. */
const t0 = 1_750_000_000_123

const scored = (score: number, metrics: Record<string, number>) =>
  ({ _tag: "Scored", metrics, score, feedback: null, durationMs: 12.5 }) as const

describe.each(enabledBackends)("the stores on $name", (backend) => {
  it.scoped("count as evaluations what the run counts against its maximum: scored, or failed in the evaluator", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      const run = RunId.make("run_counts")
      yield* db.createRun(run, specWith(), t0)
      const failure = (kind: "patch" | "duplicate") => ({ kind, message: `${kind} refused` })
      yield* db.insertProgram(program({ id: "c.root", runId: run, createdAt: t0 + 1 }))
      yield* db.insertProgram(program({ id: "c.crash", runId: run, parentId: "c.root", createdAt: t0 + 2 }))
      yield* db.insertProgram(program({ id: "c.patch", runId: run, parentId: "c.root", createdAt: t0 + 3, status: "failed", failure: failure("patch") }))
      yield* db.insertProgram(program({ id: "c.dup", runId: run, parentId: "c.root", createdAt: t0 + 4, status: "rejected", failure: failure("duplicate") }))
      yield* db.commitEvaluation(ProgramId.make("c.root"), scored(0.5, { score: 0.5 }), t0 + 10)
      yield* db.commitEvaluation(
        ProgramId.make("c.crash"),
        { _tag: "Failed", failure: { kind: "evaluator_error", message: "exit 1" }, feedback: null, durationMs: 3 },
        t0 + 11
      )
      const overview = yield* db.runOverview(run)
      expect([overview.evaluated, overview.failed, overview.evaluations]).toEqual([1, 3, 2])
      expect(overview.evaluations).toBe((yield* db.loadRun(run)).evaluations)
    }).pipe(Effect.provide(backend.layer)))

  it.scoped("read back numbers as numbers, and every query runs", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      const explore = yield* ExploreQueries
      yield* db.createRun(runId, specWith(), t0)
      const llm = { model: "m", inputTokens: 100, outputTokens: 50, usd: 0.125, latencyMs: 321.5, attempts: 1 }
      yield* db.insertProgram(program({ id: "root", runId, createdAt: t0 + 1, code: "root 100%_done" }))
      yield* db.insertProgram(program({ id: "a", runId, parentId: "root", createdAt: t0 + 2, island: 1, generation: 1, llm }), {
        id: "a.llm",
        runId,
        purpose: "proposal",
        programId: ProgramId.make("a"),
        model: "m",
        inputTokens: 100,
        outputTokens: 50,
        usd: 0.125,
        latencyMs: 321.5,
        attempts: 1,
        outcome: "ok",
        errorKind: null,
        errorMessage: null,
        createdAt: t0 + 2
      })
      const transcript = { programId: "b", runId, attempt: 0, model: "m", system: "s", user: "u", response: "r", createdAt: t0 + 3 }
      yield* db.insertProgram(program({ id: "b", runId, parentId: "a", createdAt: t0 + 3, generation: 2 }), undefined, [transcript])
      expect(yield* db.startEvaluation(ProgramId.make("a"))).toBe(1)
      expect(yield* db.commitEvaluation(ProgramId.make("root"), scored(0.5, { score: 0.5, size: 3 }), t0 + 10)).toBe(true)
      expect(yield* db.commitEvaluation(ProgramId.make("a"), scored(0.75, { score: 0.75, size: 1 }), t0 + 11)).toBe(true)

      const a = yield* db.getProgram("a")
      expect(a.createdAt).toBe(t0 + 2)
      expect(a.evaluatedAt).toBe(t0 + 11)
      expect(a.evalMs).toBe(12.5)
      expect(a.llm).toEqual(llm)
      expect((yield* db.getRun(runId)).createdAt).toBe(t0)

      const [overview] = yield* db.listRuns
      expect(overview).toMatchObject({ evaluated: 2, failed: 0, evaluations: 2, pending: 1, bestScore: 0.75, inputTokens: 100, outputTokens: 50, usd: 0.125 })
      expect(yield* db.usageByModel(runId)).toEqual([{ model: "m", calls: 1, errors: 0, inputTokens: 100, outputTokens: 50, usd: 0.125 }])
      const state = yield* db.loadRun(runId)
      expect([state.evaluations, state.inputTokens, state.outputTokens, state.usd]).toEqual([2, 100, 50, 0.125])
      expect([...state.evaluationStarts]).toEqual([])
      expect((yield* db.loadSearchState(runId, { descriptors: false, failures: 5 })).evaluationsSinceBest).toBe(0)

      const page = yield* db.listPrograms(runId, { offset: 0, limit: 2, sort: "score", order: "desc" })
      expect(page.total).toBe(3)
      expect(page.items.map((p) => p.id)).toEqual(["a", "root"])
      const lineage = yield* db.lineage("a", 5, 5)
      expect([lineage.ancestors.map((p) => p.id), lineage.program.id, lineage.children.map((p) => p.id)]).toEqual([["root"], "a", ["b"]])
      expect(yield* db.scoreTimeline(runId, 10)).toEqual([
        { programId: "root", at: t0 + 10, score: 0.5, status: "evaluated" },
        { programId: "a", at: t0 + 11, score: 0.75, status: "evaluated" }
      ])

      // Events, leases (compare-and-set from nobody, then from a holder).
      yield* db.appendEvents([1, 2].map((seq) => ({ runId, seq, at: t0 + seq, type: "T", data: "{}" })))
      expect(yield* db.readEvents(runId, 1, 10)).toEqual([{ runId, seq: 2, at: t0 + 2, type: "T", data: "{}" }])
      expect(yield* db.lastEventSeq(runId)).toBe(2)
      expect(yield* db.takeLease(runId, "me", null, t0)).toBe(true)
      expect(yield* db.takeLease(runId, "other", null, t0)).toBe(false)
      expect(yield* db.takeLease(runId, "other", "me", t0 + 5)).toBe(true)
      expect(yield* db.readLease(runId)).toEqual({ owner: "other", heartbeatAt: t0 + 5 })

      // The explorer.
      yield* db.recordMigrants(runId, [{ programId: ProgramId.make("a"), island: 0, origin: 1 }], t0 + 20)
      yield* db.recordDescriptor(ProgramId.make("a"), "[1]")
      const facts = yield* explore.programFacts(runId)
      expect(facts.map((f) => [f.id, f.createdAt, f.evaluatedAt])).toEqual([["root", t0 + 1, t0 + 10], ["a", t0 + 2, t0 + 11], ["b", t0 + 3, null]])
      const byText = yield* explore.listPrograms(runId, { sort: "time", order: "asc", limit: 10, offset: 0, text: "100%_D" })
      expect([byText.total, byText.items.map((p) => p.id)]).toEqual([1, ["root"]])
      expect((yield* explore.listPrograms(runId, { sort: "time", order: "asc", limit: 10, offset: 0, text: "1000" })).total).toBe(0)
      const byCost = yield* explore.listPrograms(runId, { sort: "cost", order: "asc", limit: 10, offset: 0 })
      expect(byCost.items.map((p) => p.id)).toEqual(["a", "root", "b"]) // no cost last, then by time in the same order
      const bySize = yield* explore.listPrograms(runId, { sort: "metric:size", order: "asc", limit: 10, offset: 0 })
      expect([bySize.total, bySize.items.map((p) => p.id)]).toEqual([3, ["a", "root", "b"]])
      expect(yield* explore.metricNames(runId)).toEqual(["score", "size"])
      expect((yield* explore.evaluations(runId)).map((e) => [e.id, e.evaluatedAt])).toEqual([["root", t0 + 10], ["a", t0 + 11]])
      expect(yield* explore.descriptors(runId)).toEqual([{ id: "a", island: 1, score: 0.75, descriptor: "[1]" }])
      expect(yield* explore.llmCallTimes(runId)).toEqual([{ model: "m", createdAt: t0 + 2, latencyMs: 321.5, outcome: "ok", usd: 0.125 }])
      expect([...(yield* explore.migrantsByIsland(runId))]).toEqual([[0, 1]])
      yield* explore.setArchived(runId, true)
      expect([...(yield* explore.archivedRuns)]).toEqual([runId])
      expect(yield* explore.transcripts("b")).toEqual([transcript])

      // The LLM cache keeps the first answer of a key.
      const cache = yield* LlmCacheStore.make()
      const reply = { text: "x", inputTokens: 1, outputTokens: 2, finishReason: "stop" }
      yield* cache.put("k", "m", reply)
      yield* cache.put("k", "m", { ...reply, text: "y" })
      expect(yield* cache.get("k")).toEqual(Option.some(reply))

      yield* explore.deleteRun(runId)
      expect(yield* db.listRuns).toEqual([])
    }).pipe(Effect.provide(backend.layer)))

  it.scoped("text search finds a multi-file program by the text of any of its files", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      const explore = yield* ExploreQueries
      yield* db.createRun(runId, specWith(), t0)
      const files = (helper: string) => ProgramTree.pack([{ path: "main.py", content: "import helper\n" }, { path: "helper.py", content: helper }])
      yield* db.insertProgram(program({ id: "t1", runId, createdAt: t0 + 1, code: files("def Needle_Fn(): pass\n") }))
      yield* db.insertProgram(program({ id: "t2", runId, parentId: "t1", createdAt: t0 + 2, code: files("def other(): pass\n") }))
      yield* db.insertProgram(program({ id: "s", runId, parentId: "t1", createdAt: t0 + 3, code: "x = 'needle_fn'" }))
      const search = (text: string) =>
        Effect.map(explore.listPrograms(runId, { sort: "time", order: "asc", limit: 10, offset: 0, text }), (page) => page.items.map((p) => p.id))
      expect(yield* search("NEEDLE_fn")).toEqual(["t1", "s"])
      expect(yield* search("import helper")).toEqual(["t1", "t2"])
      // Paths and the manifest's hashes are not searched, only file contents.
      expect(yield* search("helper.py")).toEqual([])
      yield* explore.deleteRun(runId)
    }).pipe(Effect.provide(backend.layer)))
})
