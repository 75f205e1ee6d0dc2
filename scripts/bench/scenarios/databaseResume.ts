/**
 * Helper process of the database scenario: resumes a run from its database as the engine does
 * in `EvolutionRun.start` (open with migrations, `loadRunState`, `loadSearchState`, the recent
 * failures and the LLM outcomes that rebuild the model bandit, build the
 * `Population` with the default search options, load its reference code), then picks a parent
 * and its inspirations with the engine's own `ParentPicker` (sample, then read their rows: cache
 * plus one query) many times, as each proposal does. For comparison it also times the former
 * way (one `getProgram` per program, no cache) in the same process.
 *
 *   node databaseResume.js --db FILE --run RUN_ID --samples N --out FILE
 */
import { writeFileSync } from "node:fs"
import { performance, PerformanceObserver } from "node:perf_hooks"
import { Effect } from "effect"
import * as ProgramDatabase from "../../../src/db/ProgramDatabase.js"
import { RunId } from "../../../src/domain/Ids.js"
import { makeParentPicker } from "../../../src/population/ParentPicker.js"
import { defaultOptions, Population } from "../../../src/population/Population.js"
import { type Distribution, distribution, round } from "../stats.js"
import { allStores } from "../../../test/support/database.js"

export interface ResumeReport {
  readonly openMs: number
  /** loadRunState + loadSearchState. */
  readonly loadStateMs: number
  /** llmOutcomes alone (part of populationMs), and how many outcomes it read. */
  readonly llmOutcomesMs: number
  readonly llmOutcomes: number
  /** Population construction and its reference code, recent failures and LLM outcomes. */
  readonly populationMs: number
  readonly resumeMs: number
  readonly population: number
  readonly rssBeforeMb: number
  readonly rssAfterMb: number
  /** ParentPicker.pick (what the engine runs per proposal), wall ms per call. */
  readonly sampling: Distribution
  /** The same calls in CPU ms of this process: what is left when preemption by other processes is taken out. */
  readonly samplingCpu: Distribution
  /** Population.sample alone, wall ms. */
  readonly populationSampleOnly: Distribution
  /** The former way: Population.sample, then one getProgram per program, no cache (wall and CPU ms). */
  readonly perProgramReads: Distribution
  readonly perProgramReadsCpu: Distribution
  readonly perProgramReadsGc: { readonly count: number; readonly totalMs: number; readonly maxMs: number }
  /** The picker's row cache over the sampling calls. */
  readonly cache: { readonly hits: number; readonly misses: number; readonly size: number }
  /** Garbage-collection pauses during the sampling calls: what the tail is made of. */
  readonly gcDuringSampling: { readonly count: number; readonly totalMs: number; readonly maxMs: number }
}

/** Counts GC pauses from now until `stop()` (entries arrive asynchronously: it waits for them). */
const watchGc = () => {
  const pauses: Array<number> = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push(entry.duration)
  })
  observer.observe({ entryTypes: ["gc"] })
  return () =>
    new Promise<{ count: number; totalMs: number; maxMs: number }>((resolve) =>
      setTimeout(() => {
        observer.disconnect()
        resolve({ count: pauses.length, totalMs: round(pauses.reduce((a, b) => a + b, 0), 1), maxMs: round(Math.max(0, ...pauses), 2) })
      }, 100)
    )
}

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  const value = i >= 0 ? process.argv[i + 1] : undefined
  if (value === undefined) throw new Error(`missing --${name}`)
  return value
}

const mb = (bytes: number) => round(bytes / (1024 * 1024), 1)

const roundAll = (d: Distribution): Distribution => ({
  n: d.n,
  mean: round(d.mean, 4),
  p50: round(d.p50, 4),
  p90: round(d.p90, 4),
  p99: round(d.p99, 4),
  max: round(d.max, 4)
})

const main = (file: string, runId: RunId, samples: number, rssBefore: number, started: number) =>
  Effect.gen(function*() {
    const opened = performance.now()
    const db = yield* allStores
    const state = yield* db.loadRun(runId)
    const search = yield* db.loadSearchState(runId, {
      descriptors: defaultOptions.features.length > 0 || defaultOptions.objectives.length > 0,
      failures: 16
    })
    const loaded = performance.now()
    const population = new Population(state.population, defaultOptions, {
      migrants: search.migrants,
      failures: search.failedEvaluations
    })
    // The engine also reloads the recent failures (prompts) and every LLM outcome (model bandit).
    yield* db.recentFailures(runId, 5)
    const outcomesStarted = performance.now()
    const outcomes = (yield* db.llmOutcomes(runId, (id) => population.scoreOf(id))).length
    const llmOutcomesMs = performance.now() - outcomesStarted
    yield* population.loadReferenceCode((id) =>
      db.getProgram(id).pipe(Effect.map((p) => p.code), Effect.catchTag("ProgramNotFound", () => Effect.succeed("")))
    )
    const built = performance.now()
    const rssAfter = process.memoryUsage().rss

    const picker = makeParentPicker(population, db, { rootId: () => state.initialProgramId })
    const pickParent = Effect.flatMap(picker.pick, (picked) => picked === undefined ? Effect.dieMessage("empty population") : Effect.void)
    const perProgramReads = Effect.gen(function*() {
      const sample = yield* population.sample
      if (sample === undefined) return yield* Effect.dieMessage("empty population")
      yield* db.getProgram(sample.parent.id)
      yield* Effect.forEach(sample.inspirations, (e) => db.getProgram(e.id))
    })
    const timed = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const wall: Array<number> = []
        const cpu: Array<number> = []
        for (let i = 0; i < samples; i++) {
          const c0 = process.cpuUsage()
          const t0 = performance.now()
          yield* effect
          wall.push(performance.now() - t0)
          const c = process.cpuUsage(c0)
          cpu.push((c.user + c.system) / 1000)
        }
        return { wall, cpu }
      })
    const stopGc = watchGc()
    const sampling = yield* timed(pickParent)
    const gcDuringSampling = yield* Effect.promise(stopGc)
    const cache = picker.cacheStats()
    const stopGcFormer = watchGc()
    const former = yield* timed(perProgramReads)
    const formerGc = yield* Effect.promise(stopGcFormer)
    const sampleOnly = yield* timed(population.sample)
    const report: ResumeReport = {
      openMs: round(opened - started, 1),
      loadStateMs: round(loaded - opened, 1),
      llmOutcomesMs: round(llmOutcomesMs, 1),
      llmOutcomes: outcomes,
      populationMs: round(built - loaded, 1),
      resumeMs: round(built - started, 1),
      population: population.size,
      rssBeforeMb: mb(rssBefore),
      rssAfterMb: mb(rssAfter),
      sampling: roundAll(distribution(sampling.wall)),
      samplingCpu: roundAll(distribution(sampling.cpu)),
      populationSampleOnly: roundAll(distribution(sampleOnly.wall)),
      perProgramReads: roundAll(distribution(former.wall)),
      perProgramReadsCpu: roundAll(distribution(former.cpu)),
      perProgramReadsGc: formerGc,
      cache,
      gcDuringSampling
    }
    return report
  }).pipe(Effect.provide(ProgramDatabase.layer(file)))

const file = arg("db")
const rssBefore = process.memoryUsage().rss
const started = performance.now()
Effect.runPromise(main(file, RunId.make(arg("run")), Number(arg("samples")), rssBefore, started)).then(
  (report) => writeFileSync(arg("out"), JSON.stringify(report)),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
