/** Handlers of the explorer's endpoints (ExploreApi): views of a run, the workspace file picker, the server's defaults. */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Path from "@effect/platform/Path"
import { Clock, Effect, Option } from "effect"
import { decodeRunConfig, loadRunConfig } from "../config/ConfigLoader.js"
import * as Overrides from "../config/Overrides.js"
import * as Workspace from "../config/Workspace.js"
import { ExploreQueries } from "../db/ExploreQueries.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import { SearchStore } from "../db/SearchStore.js"
import { ProviderName, type RunConfig } from "../domain/RunConfig.js"
import { RunManager } from "../engine/RunManager.js"
import { EvolveApi } from "./Api.js"
import { api, InvalidRequest } from "./ApiCommon.js"
import * as RunAnalysis from "./RunAnalysis.js"
import * as RunPolicy from "./RunPolicy.js"
import * as SearchViews from "./SearchViews.js"

export const ExploreLive = HttpApiBuilder.group(EvolveApi, "explore", (handlers) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const explore = yield* ExploreQueries
    const queries = yield* RunQueries
    const llmCalls = yield* LlmCallStore
    const manager = yield* RunManager
    const search = yield* SearchStore

    return handlers
      .handle("runLineage", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          return RunAnalysis.lineage(run.id, yield* explore.programFacts(run.id), urlParams.include)
        })))
      .handle("metricSeries", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const rows = urlParams.metric === "score"
            ? RunAnalysis.finished(yield* explore.programFacts(run.id))
            : yield* explore.evaluations(run.id)
          return RunAnalysis.series(urlParams.metric, yield* explore.metricNames(run.id), run.createdAt, rows)
        })))
      .handle("timeline", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const info = yield* manager.get(path.runId)
          const live = Option.getOrUndefined(info.live)
          const limits = live?.concurrency ?? info.overview.spec.config.concurrency
          const now = live === undefined ? undefined : yield* Clock.currentTimeMillis
          const facts = yield* explore.programFacts(info.overview.id)
          return RunAnalysis.timeline(facts, { proposals: limits.proposals, evaluations: limits.evaluations }, urlParams.buckets, now)
        })))
      .handle("islands", ({ path }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          return RunAnalysis.islands(yield* explore.programFacts(run.id), yield* explore.migrantsByIsland(run.id))
        })))
      .handle("searchDecisions", ({ path }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          return yield* search.listDecisions(run.id, 500)
        })))
      .handle("mapElites", ({ path }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const population = run.spec.config.population
          if (population.map_elites === undefined) return { features: [], cells: [] }
          return SearchViews.mapElites(population, yield* explore.descriptors(run.id))
        })))
      .handle("pareto", ({ path }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const objectives = run.spec.config.population.objectives ?? []
          if (objectives.length === 0) return { objectives: [], programId: [], score: [], values: [], front: [] }
          const points = SearchViews.objectivePoints(yield* explore.descriptors(run.id), objectives.length)
          const front = yield* queries.paretoFront(run.id, objectives)
          return { objectives, ...points, front: front.map((p) => p.id) }
        })))
      .handle("modelUsage", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const calls = RunAnalysis.callsOverTime(yield* explore.llmCallTimes(run.id), run.createdAt, urlParams.buckets)
          const arms = yield* SearchViews.modelArms(run.spec.config.llm, yield* llmCalls.llmOutcomes(run.id))
          return { ...calls, selection: run.spec.config.llm.selection, arms }
        })))
      .handle("compareRuns", ({ urlParams }) =>
        api(Effect.gen(function*() {
          const ids = [...new Set(urlParams.runs.split(",").map((s) => s.trim()).filter((s) => s !== ""))]
          if (ids.length < 2 || ids.length > 8) {
            return yield* new InvalidRequest({ message: "runs: give 2 to 8 run ids, comma-separated", path: "runs" })
          }
          return yield* Effect.forEach(ids, (id) =>
            Effect.gen(function*() {
              const run = yield* runs.getRun(id)
              const rows = RunAnalysis.finished(yield* explore.programFacts(run.id))
              return {
                runId: run.id,
                goal: run.spec.config.goal,
                status: run.status,
                createdAt: run.createdAt,
                points: RunAnalysis.curve(run.createdAt, rows)
              }
            }))
        })))
  }))

/** Entries listed per directory at most. */
const maxEntries = 1000

/** Hidden entries and installed packages are not offered (they can still be named in a request). */
const offered = (name: string) => !name.startsWith(".") && name !== "node_modules"

const serverDefaults = (root: string, config: RunConfig) => ({
  workspace: root,
  goal: config.goal,
  maxEvaluations: config.max_evaluations,
  provider: config.llm.provider,
  model: config.llm.model,
  baseUrl: config.llm.base_url,
  providers: [...ProviderName.literals],
  concurrency: { proposals: config.concurrency.proposals, evaluations: config.concurrency.evaluations }
})

export const WorkspaceLive = HttpApiBuilder.group(EvolveApi, "workspace", (handlers) =>
  Effect.gen(function*() {
    const policy = yield* RunPolicy.RunPolicy
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const root = policy.workspace.root
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const inside = (file: string) =>
      Workspace.confine(policy.workspace, root, file, "dir").pipe(Effect.provide(context), Effect.option)

    return handlers
      .handle("listFiles", ({ urlParams }) =>
        Effect.gen(function*() {
          const bad = (message: string) => new InvalidRequest({ message, path: "dir" })
          const dir = yield* Workspace.confine(policy.workspace, root, urlParams.dir === "" ? "." : urlParams.dir, "dir").pipe(
            Effect.provide(context),
            Effect.mapError((e) => bad(e.message))
          )
          const info = yield* fs.stat(dir).pipe(Effect.mapError(() => bad(`dir ${urlParams.dir}: no such directory in the workspace`)))
          if (info.type !== "Directory") return yield* bad(`dir ${urlParams.dir}: not a directory`)
          const names = (yield* fs.readDirectory(dir).pipe(Effect.mapError((e) => bad(`dir ${urlParams.dir}: ${e.message}`))))
            .filter(offered)
            .sort()
          const entries = yield* Effect.forEach(names.slice(0, maxEntries), (name) =>
            Effect.gen(function*() {
              const full = path.join(dir, name)
              // A link that leads out of the workspace is not offered.
              if (Option.isNone(yield* inside(full))) return []
              const stat = yield* fs.stat(full).pipe(Effect.option)
              if (Option.isNone(stat) || (stat.value.type !== "File" && stat.value.type !== "Directory")) return []
              return [{
                name,
                path: path.relative(root, full),
                kind: stat.value.type === "Directory" ? "directory" as const : "file" as const,
                size: Number(stat.value.size)
              }]
            }))
          return {
            root,
            dir: path.relative(root, dir),
            entries: entries.flat().sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : 1) : a.kind === "directory" ? -1 : 1)),
            truncated: names.length > maxEntries
          }
        }))
      .handle("defaults", () =>
        Effect.gen(function*() {
          const file = path.join(root, "evolve.yaml")
          const exists = yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))
          const env = yield* Overrides.environment
          // A broken evolve.yaml in the workspace leaves the built-in defaults (its errors show when a run is started).
          const config = yield* loadRunConfig({ file: exists ? file : undefined, env }).pipe(
            Effect.orElse(() => decodeRunConfig({})),
            Effect.orDie,
            Effect.provide(context)
          )
          return serverDefaults(root, config)
        }))
  }))
