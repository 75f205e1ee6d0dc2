import { describe, expect, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as RunManager from "../../src/engine/RunManager.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { Proposer } from "../../src/propose/Proposer.js"
import { specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { runDefaults } from "../support/engine.js"

/** Counts what is in flight across every run of the manager. */
const makeProbe = () => ({ llm: 0, llmMax: 0, evals: 0, evalMax: 0, proposals: 0 })
type Probe = ReturnType<typeof makeProbe>

const environment = (probe: Probe, ms: number) => () =>
  Layer.mergeAll(
    runDefaults,
    Layer.succeed(Proposer, {
      propose: (input) =>
        Effect.gen(function*() {
          const n = ++probe.proposals
          probe.llm++
          probe.llmMax = Math.max(probe.llmMax, probe.llm)
          yield* Effect.sleep(ms).pipe(Effect.ensuring(Effect.sync(() => probe.llm--)))
          const llm = { text: "", model: "probe", inputTokens: 10, outputTokens: 2, usd: 0.0001, latencyMs: ms, attempts: 1, finishReason: "stop" }
          const parent = Number(/score = (\d+)/.exec(input.parent.code)?.[1] ?? 0)
          return { _tag: "Proposed", code: `score = ${parent + n}\n# ${n}`, patch: "diff", llm } as const
        })
    }),
    Layer.succeed(Evaluator, {
      evaluate: (request) =>
        Effect.gen(function*() {
          probe.evals++
          probe.evalMax = Math.max(probe.evalMax, probe.evals)
          yield* Effect.sleep(ms).pipe(Effect.ensuring(Effect.sync(() => probe.evals--)))
          const score = Number(/score = (\d+)/.exec(request.code)?.[1] ?? 0)
          return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: ms } as const
        })
    })
  )

const spec = (maxEvaluations: number) =>
  specWith({ max_evaluations: maxEvaluations, concurrency: { proposals: 4, evaluations: 4 }, shutdown_grace_seconds: 5 })

/** A manager over a database file in `dir`, in its own scope (closed = the process stopping). */
const startManager = (dir: string, probe: Probe, options: Partial<RunManager.RunManagerOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = RunManager.layer({
      llmConcurrency: 2,
      evaluationConcurrency: 1,
      resumeOnStart: true,
      databasePath: `${dir}/evolve.db`,
      environment: environment(probe, 15),
      ...options
    }).pipe(Layer.provideMerge(Db.layer(`${dir}/evolve.db`)))
    const context = yield* Layer.buildWithScope(layer, scope)
    return { manager: Effect.runSync(Effect.provide(RunManager.RunManager, context)), close: Scope.close(scope, Exit.void) }
  })

const until = (manager: RunManager.RunManager["Type"], id: string, done: (info: RunManager.RunInfo) => boolean) =>
  Effect.gen(function*() {
    for (;;) {
      const info = yield* manager.get(id)
      if (done(info)) return info
      yield* Effect.sleep("20 millis")
    }
  }).pipe(Effect.timeout("20 seconds"))

describe("RunManager", () => {
  it.scopedLive("holds the shared LLM and evaluation limits across concurrent runs", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const probe = makeProbe()
      const { close, manager } = yield* startManager(dir, probe)
      const a = yield* manager.create(spec(12), "score = 0")
      const b = yield* manager.create(spec(12), "score = 0")
      const finished = (i: RunManager.RunInfo) => Option.isNone(i.live) && i.overview.status === "completed"
      const ra = yield* until(manager, a, finished)
      const rb = yield* until(manager, b, finished)
      expect(ra.overview.evaluated + rb.overview.evaluated).toBeGreaterThanOrEqual(24)
      // Each run alone would have 4 LLM calls and 4 evaluations in flight; together they share 2 and 1.
      expect(probe.llmMax).toBe(2)
      expect(probe.evalMax).toBe(1)
      yield* close
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("Extend tells a running run its new maximum, and starts a finished run again", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const probe = makeProbe()
      const { close, manager } = yield* startManager(dir, probe, { llmConcurrency: 4, evaluationConcurrency: 4 })
      const id = yield* manager.create(spec(40), "score = 0")
      yield* until(manager, id, (i) => i.overview.evaluated >= 2)
      const extended = yield* manager.extend(id, 60)
      expect(Option.getOrThrow(extended.live).maxEvaluations).toBe(60)
      expect(extended.overview.spec.config.max_evaluations).toBe(60)
      const finished = (i: RunManager.RunInfo) => Option.isNone(i.live) && i.overview.status === "completed"
      const done = yield* until(manager, id, finished)
      expect(done.overview.evaluated).toBe(60)
      // A completed run, extended: it runs again up to the new maximum.
      const again = yield* manager.extend(id, 70)
      expect(Option.isSome(again.live)).toBe(true)
      expect(again.overview.spec.config.max_evaluations).toBe(70)
      expect((yield* until(manager, id, finished)).overview.evaluated).toBe(70)
      expect(yield* Effect.flip(manager.setConcurrency(id, { proposals: 2 }))).toMatchObject({ _tag: "RunConflict" })
      yield* close
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("records numbered events, replays them after an id, and marks paused runs", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const probe = makeProbe()
      const { close, manager } = yield* startManager(dir, probe, { llmConcurrency: 8, evaluationConcurrency: 8 })
      const id = yield* manager.create(spec(100_000), "score = 0")
      yield* until(manager, id, (i) => i.overview.evaluated >= 5)
      const paused = yield* manager.pause(id)
      expect(paused.intent).toBe("pause")
      const stopped = yield* until(manager, id, (i) => Option.isNone(i.live))
      expect(stopped.overview.status).toBe("interrupted")
      expect(stopped.overview.stopReason).toBe("paused")
      expect(yield* Effect.flip(manager.pause(id))).toMatchObject({ _tag: "RunConflict" })

      const live = yield* manager.events(id, 0).pipe(
        Stream.takeUntil((e) => e.type === "RunStatusChanged" && JSON.parse(e.data).status === "interrupted"),
        Stream.runCollect
      )
      const seqs = [...live].filter((e) => e.runId === id).map((e) => e.seq)
      expect(seqs).toEqual(seqs.map((_, i) => i + 1))
      expect([...live].at(-1)).toMatchObject({ type: "RunStatusChanged" })
      expect(JSON.parse([...live].at(-1)!.data)).toMatchObject({ status: "interrupted", reason: "paused" })

      const replay = yield* manager.events(id, 3).pipe(Stream.take(3), Stream.runCollect)
      expect([...replay].map((e) => e.seq)).toEqual([4, 5, 6])
      expect([...replay][0]!.data).toBe([...live].find((e) => e.runId === id && e.seq === 4)!.data)
      yield* close
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("resumes, at start, the runs it was driving when the process stopped", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const probe = makeProbe()
      const first = yield* startManager(dir, probe, { llmConcurrency: 8, evaluationConcurrency: 8 })
      const id = yield* first.manager.create(spec(100_000), "score = 0")
      const other = yield* first.manager.create(spec(100_000), "score = 0")
      yield* until(first.manager, id, (i) => i.overview.evaluated >= 3)
      yield* first.manager.stop(other)
      yield* until(first.manager, other, (i) => Option.isNone(i.live))
      yield* first.close // graceful shutdown: the hosted run stops with reason "server shutdown"
      const db = yield* Effect.provide(allStores, yield* Layer.build(Db.layer(`${dir}/evolve.db`)))
      expect(yield* db.getRun(id)).toMatchObject({ status: "interrupted", stopReason: "server shutdown" })
      expect(yield* db.getRun(other)).toMatchObject({ status: "interrupted", stopReason: "stopped by user" })

      const second = yield* startManager(dir, probe, { llmConcurrency: 8, evaluationConcurrency: 8 })
      const resumed = yield* second.manager.get(id)
      expect(Option.isSome(resumed.live)).toBe(true) // resumed
      expect(Option.isNone((yield* second.manager.get(other)).live)).toBe(true) // a user's stop stays stopped
      const before = resumed.overview.evaluated
      yield* until(second.manager, id, (i) => i.overview.evaluated > before + 3)
      yield* second.close
    }).pipe(Effect.provide(NodeContext.layer)))
})

