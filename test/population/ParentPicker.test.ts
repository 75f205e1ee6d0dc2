/**
 * ParentPicker: the rows of a Population sample read as the engine sends them to the proposer:
 * identical to per-program reads, the best ones served from the cache, pending rows never cached.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import { makeParentPicker } from "../../src/population/ParentPicker.js"
import { Population } from "../../src/population/Population.js"
import { program, specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"

const runId = RunId.make("run_picker")

describe("ParentPicker", () => {
  it.effect("reads what the sample names, caches only the best final rows, and re-reads a pending root until it is committed", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      yield* db.createRun(runId, specWith(), 0)
      const root = ProgramId.make("root")
      yield* db.insertProgram(program({ id: "root", runId, createdAt: 1 }))
      const population = new Population([])
      let rootId: ProgramId | null = root
      const picker = makeParentPicker(population, db, { rootId: () => rootId, cacheSize: 8, cacheRank: 4 })

      // Nothing scored: the initial program, still pending, without metrics.
      const first = (yield* picker.pick)!
      expect(first.parent.status).toBe("pending")
      expect(first.mode).toBe("explore")
      yield* picker.pick
      expect(picker.cacheStats()).toMatchObject({ hits: 0, size: 0 })
      // Once committed, the next pick sees its result (a pending row is never served from the cache).
      yield* db.commitEvaluation(root, { _tag: "Scored", metrics: { score: 1 }, score: 1, feedback: null, durationMs: 1 }, 2)
      population.add({ id: root, score: 1, island: 0, generation: 0 })
      const scored = (yield* picker.pick)!
      expect(scored.parent.status).toBe("evaluated")
      expect(scored.parent.metrics).toEqual({ score: 1 })

      for (let i = 0; i < 40; i++) {
        const id = ProgramId.make(`p${i}`)
        yield* db.insertProgram(program({ id, runId, parentId: "root", generation: 1, createdAt: 10 + i }))
        yield* db.commitEvaluation(id, { _tag: "Scored", metrics: { score: i }, score: i, feedback: `fb ${i}`, durationMs: 1 }, 100 + i)
        population.add({ id, score: i, island: 0, generation: 1 })
      }
      rootId = null
      for (let k = 0; k < 200; k++) {
        const picked = (yield* picker.pick)!
        // The same rows as one getProgram each.
        expect(picked.parent).toEqual(yield* db.getProgram(picked.parent.id))
        for (const p of picked.inspirations) expect(p).toEqual(yield* db.getProgram(p.id))
        expect(picked.inspirations.length).toBe(picked.labels.length)
      }
      const stats = picker.cacheStats()
      // The "top" inspirations (the two best) are read at every pick: from the cache after the first.
      expect(stats.hits).toBeGreaterThan(400)
      expect(stats.misses).toBeGreaterThan(0)
      expect(stats.size).toBeLessThanOrEqual(8)
    }).pipe(Effect.provide(Db.layer(":memory:"))))
})
