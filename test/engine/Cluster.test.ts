/**
 * A run as a cluster entity, in one process on SQLite or Postgres storage (@effect/cluster's SingleRunner):
 * the run is submitted with a `Drive` message, its candidates go through the database work
 * queue to evaluation workers that commit each result and tell the run, and the run ends where
 * it would on one machine.
 */
import { NodeContext } from "@effect/platform-node"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer, Option, Ref, Stream } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { RunStore } from "../../src/db/RunStore.js"
import * as ClusterHost from "../../src/engine/ClusterHost.js"
import * as ClusterJanitor from "../../src/engine/ClusterJanitor.js"
import * as ClusterRunManager from "../../src/engine/ClusterRunManager.js"
import * as EvaluationQueue from "../../src/engine/EvaluationQueue.js"
import * as EvaluationWorker from "../../src/engine/EvaluationWorker.js"
import { RunEntity } from "../../src/engine/RunEntity.js"
import * as RunManager from "../../src/engine/RunManager.js"
import * as RunEntityLayer from "../../src/engine/RunEntity.js"
import * as WorkerPresence from "../../src/engine/WorkerPresence.js"
import { ProgramId } from "../../src/domain/Ids.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { Proposer } from "../../src/propose/Proposer.js"
import { allStores } from "../support/database.js"
import { runDefaults } from "../support/engine.js"
import { enabledBackends } from "../support/postgres.js"
import { specWith } from "../support/runFixtures.js"
import type { RunSpec } from "../../src/domain/RunConfig.js"

const llm = { text: "", model: "m", inputTokens: 1, outputTokens: 1, usd: 0, latencyMs: 20, attempts: 1, finishReason: "stop" }

/** The run's services on the control side: a proposer writing `score = N` programs (no LLM), N new across sessions. */
let proposals = 0
const environment = () =>
  Layer.merge(
    runDefaults,
    Layer.succeed(Proposer, {
      propose: () => Effect.as(Effect.sleep("20 millis"), { _tag: "Proposed", code: `score = ${++proposals}\n`, patch: "", llm } as const)
    })
  ).pipe(Layer.merge(Layer.succeed(Evaluator, { evaluate: () => Effect.die("the control process evaluates nothing") })))

/** The workers' evaluator: sleeps, then scores `score = N` as N; counts its calls. */
const workerEvaluator = (calls: Ref.Ref<number>) => () =>
  Layer.succeed(Evaluator, {
    evaluate: (request) =>
      Effect.gen(function*() {
        yield* Ref.update(calls, (n) => n + 1)
        yield* Effect.sleep("30 millis")
        const score = Number(/score = (\d+)/.exec(request.code)?.[1] ?? 0)
        return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 30 } as const
      })
  })

const until = <A, E, R>(check: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (;;) {
      const value = yield* check
      if (done(value)) return value
      yield* Effect.sleep("50 millis")
    }
  }).pipe(Effect.timeout("60 seconds"))

const workerIdentity = { id: "test-worker", host: "localhost", pid: 1, version: "0.1.0", tags: [], capabilities: [] }

/** One control process and its database (SQLite or Postgres storage), plus `slots` worker slots in-process. */
const clusterIn = (target: string, calls: Ref.Ref<number>, slots: number, checkEvery: Duration.DurationInput = "5 seconds") =>
  Effect.gen(function*() {
    const database = Db.layer(target)
    const cluster = SingleRunner.layer({ shardingConfig: { entityMessagePollInterval: "100 millis" } })
    const runner = RunEntityLayer.layer.pipe(
      Layer.provide(ClusterHost.layer({ environment, checkEvery })),
      Layer.provideMerge(cluster),
      Layer.provideMerge(EvaluationQueue.layer({ pollInterval: "10 millis" })),
      Layer.provideMerge(database)
    )
    const context = yield* Layer.build(runner)
    const counters = yield* Ref.make({ busy: 0, done: 0 })
    // The run's evaluator directory on the submitting side, and the workers' cache of shipped files.
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped()
    yield* fs.makeDirectory(`${dir}/evaluator/lib`, { recursive: true })
    yield* fs.writeFileString(`${dir}/evaluator/evaluate.py`, "from lib.helper import score\n")
    yield* fs.writeFileString(`${dir}/evaluator/lib/helper.py`, "def score(): return 1\n")
    const cacheDir = `${dir}/cache`
    const evaluatorPaths = yield* Ref.make<ReadonlyArray<string>>([])
    const startWorker = (slots: number) =>
      Effect.gen(function*() {
        yield* WorkerPresence.register({ ...workerIdentity, slots }, counters)
        const evaluatorFor = (spec: RunSpec) => {
          Effect.runSync(Ref.update(evaluatorPaths, (paths) => [...paths, spec.evaluatorPath]))
          return workerEvaluator(calls)()
        }
        yield* Effect.forkScoped(EvaluationWorker.run({ slots, tags: [], cacheDir, evaluatorFor }, counters))
      }).pipe(Effect.provide(context))
    if (slots > 0) yield* startWorker(slots)
    const shipping = (spec: RunSpec): RunSpec => ({ ...spec, evaluatorPath: `${dir}/evaluator/evaluate.py` })
    return { context, counters, startWorker, shipping, cacheDir, evaluatorPaths, dir }
  })

describe.each(enabledBackends)("a run in a cluster on $name", (backend) => {
  const newTarget = Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* backend.target(yield* fs.makeTempDirectoryScoped())
  })

  it.scopedLive("is managed like a local run through the cluster's RunManager: create, live stats, pause, extend, events", () =>
    Effect.gen(function*() {
      const target = yield* newTarget
      const calls = yield* Ref.make(0)
      const { context, shipping } = yield* clusterIn(target, calls, 2)
      yield* Effect.gen(function*() {
        const manager = yield* RunManager.RunManager
        const spec = shipping(specWith({ max_evaluations: 400, concurrency: { proposals: 2, evaluations: 2 } }))
        const id = yield* manager.create(spec, "score = 0\n")
        const running = yield* until(manager.get(id), (i) => Option.isSome(i.live) && i.overview.evaluated >= 3)
        expect(Option.getOrThrow(running.live).maxEvaluations).toBe(400)
        yield* manager.pause(id)
        const paused = yield* until(manager.get(id), (i) => i.overview.status === "interrupted")
        expect(paused.overview.stopReason).toBe("paused")
        expect(yield* Effect.flip(manager.pause(id))).toMatchObject({ _tag: "RunConflict" })
        // Extend a stopped run: it starts again, up to the new maximum.
        const extended = yield* manager.extend(id, paused.overview.evaluated + 5)
        expect(extended.overview.spec.config.max_evaluations).toBe(paused.overview.evaluated + 5)
        const done = yield* until(manager.get(id), (i) => i.overview.status === "completed")
        expect(done.overview.evaluated).toBe(paused.overview.evaluated + 5)
        const events = yield* manager.events(id, 0).pipe(
          Stream.takeUntil((e) => e.type === "RunStatusChanged" && JSON.parse(e.data).status === "completed"),
          Stream.runCollect
        )
        const seqs = [...events].map((e) => e.seq)
        expect(seqs).toEqual(seqs.map((_, i) => i + 1))
      }).pipe(Effect.provide(ClusterRunManager.layer({ databasePath: target, eventPollInterval: "50 millis" })), Effect.provide(context))
    }).pipe(Effect.provide(NodeContext.layer)), { timeout: 120_000 })

  it.scopedLive("is driven by its entity, evaluated by workers through the queue, and ends as on one machine", () =>
    Effect.gen(function*() {
      const target = yield* newTarget
      const calls = yield* Ref.make(0)
      const { cacheDir, context, counters, dir, evaluatorPaths, shipping } = yield* clusterIn(target, calls, 3)
      yield* Effect.gen(function*() {
        const runs = yield* RunStore
        const spec = shipping(specWith({ max_evaluations: 12, concurrency: { proposals: 2, evaluations: 3 } }))
        const fs = yield* FileSystem.FileSystem
        const runId = yield* RunEntityLayer.submit(spec, "score = 0\n")
        const client = yield* RunEntity.client
        const stats = yield* client(runId).GetStats()
        expect(stats.runId).toBe(runId)
        const done = yield* until(runs.getRun(runId), (r) => r.status !== "running" && r.status !== "stopping")
        expect(done.status).toBe("completed")
        const db = yield* allStores
        const overview = yield* db.runOverview(runId)
        expect(overview.evaluated).toBe(12)
        expect(overview.pending).toBe(0)
        expect(yield* Ref.get(calls)).toBe(12) // each candidate evaluated once, by a worker
        expect((yield* Ref.get(counters)).done).toBe(12)
        expect((yield* db.readEvents(runId, 0, 1000)).some((e) => e.type === "RunStatusChanged")).toBe(true)
        // The workers evaluated from their cache: the evaluator's directory, shipped through the database.
        const paths = yield* Ref.get(evaluatorPaths)
        expect(paths.length).toBe(1) // built once for the run, reused for every candidate
        expect(paths[0]!.startsWith(`${cacheDir}/`)).toBe(true)
        expect(paths[0]!.slice(cacheDir.length)).toMatch(/^\/[0-9a-f]{64}\/evaluate\.py$/)
        expect(yield* fs.readFileString(paths[0]!.replace("evaluate.py", "lib/helper.py"))).toBe("def score(): return 1\n")
        expect((yield* fs.readDirectory(cacheDir)).length).toBe(1) // no partial copies left
        // A second run with the same files reuses the copy; a changed file makes a new one.
        yield* fs.writeFileString(`${dir}/evaluator/lib/helper.py`, "def score(): return 2\n")
        const second = yield* RunEntityLayer.submit({ ...spec, config: { ...spec.config, max_evaluations: 2 } }, "score = 0\n")
        yield* until(runs.getRun(second), (r) => r.status === "completed")
        expect((yield* fs.readDirectory(cacheDir)).length).toBe(2)
        expect(yield* fs.readFileString((yield* Ref.get(evaluatorPaths))[1]!.replace("evaluate.py", "lib/helper.py"))).toBe("def score(): return 2\n")
        // The janitor deletes what the cluster is done with: finished queue items, processed messages.
        yield* Effect.sleep("1100 millis") // the queue's times have the database's one-second resolution
        const pruned = yield* ClusterJanitor.prune("0 millis")
        expect(pruned.queueItems).toBe(14) // one per evaluation
        expect(pruned.messages).toBeGreaterThan(0)
        expect(yield* ClusterJanitor.prune("0 millis")).toMatchObject({ queueItems: 0, messages: 0, replies: 0 })
        // A queued candidate whose program is gone (its run deleted) waits for nobody: pruned at once.
        const gone = new EvaluationQueue.EvaluationRequest({ runId, programId: ProgramId.make("p_gone"), extension: ".py" })
        yield* EvaluationQueue.offer(EvaluationQueue.queueName(["no-such-worker"]), gone)
        expect((yield* ClusterJanitor.prune("1 day")).queueItems).toBe(1)
      }).pipe(Effect.provide(context))
    }).pipe(Effect.provide(NodeContext.layer)), { timeout: 120_000 })

  it.scopedLive("waits, and says so in its figures, while no evaluation worker is alive; a worker that joins finishes it", () =>
    Effect.gen(function*() {
      const target = yield* newTarget
      const calls = yield* Ref.make(0)
      const { context, shipping, startWorker } = yield* clusterIn(target, calls, 0, "100 millis")
      yield* Effect.gen(function*() {
        const runs = yield* RunStore
        const runId = yield* RunEntityLayer.submit(shipping(specWith({ max_evaluations: 4, concurrency: { proposals: 1, evaluations: 2 } })), "score = 0\n")
        const client = yield* RunEntity.client
        const stalled = yield* until(client(runId).GetStats(), (s) => s.waitingFor !== null)
        expect(stalled.waitingFor).toMatch(/^no evaluation worker alive: \d+ candidates? wait \(start one with: evolve worker --db … --slots K\)$/)
        expect(yield* Ref.get(calls)).toBe(0)
        yield* startWorker(2)
        yield* until(client(runId).GetStats(), (s) => s.waitingFor === null)
        const done = yield* until(runs.getRun(runId), (r) => r.status === "completed")
        expect(done.status).toBe("completed")
        expect(yield* Ref.get(calls)).toBe(4)
      }).pipe(Effect.provide(context))
    }).pipe(Effect.provide(NodeContext.layer)), { timeout: 120_000 })
})
