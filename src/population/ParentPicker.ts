/**
 * What each proposal is bred from: a `Population` sample (ids and scores) turned into program
 * rows (code, metrics, feedback) for the prompt.
 *
 * At 100k programs the sample itself costs ~0.01 ms; reading its rows one query each cost
 * ~0.3 ms and, through their garbage, a GC-driven tail of several ms. So:
 * - the rows missing from the cache are read in one `WHERE id IN (…)` query;
 * - the rows of the programs sampled most, the island's best (power-law parents, "top"
 *   inspirations), are kept in a small LRU cache.
 *
 * Invalidation: only rows whose status is final (`evaluated`, `failed`, `rejected`) are cached.
 * The database never changes such a row's Program fields again (`commitEvaluation` updates
 * pending rows only; `recordDescriptor` writes a column Program does not carry), so a cached
 * row is never stale. A pending row (the initial program while it is still evaluated) is always
 * read afresh, so the prompt gets its metrics as soon as they are committed. The cache only
 * needs eviction: least recently used first, and rows that left the island's best stop being
 * admitted again.
 */
import { Effect } from "effect"
import type { CandidateStore } from "../db/CandidateStore.js"
import type { DatabaseError, ProgramNotFound } from "../domain/Errors.js"
import type { ProgramId } from "../domain/Ids.js"
import type { Program } from "../domain/Program.js"
import type { Population, Sample, SampleMode } from "./Population.js"

export interface Picked {
  readonly parent: Program
  readonly inspirations: ReadonlyArray<Program>
  /** Why each inspiration was chosen, for the prompt (same order). */
  readonly labels: ReadonlyArray<string | undefined>
  readonly island: number
  readonly mode: SampleMode
}

export interface PickerOptions {
  /** The initial program, once stored: the parent while nothing is scored or failed yet. */
  readonly rootId: () => ProgramId | null
  /** Rows kept in the cache (default 256). */
  readonly cacheSize?: number | undefined
  /** A sampled program is cached when it ranks among its island's best `cacheRank` (default 32). */
  readonly cacheRank?: number | undefined
}

export interface ParentPicker {
  /** A parent and its inspirations, read; undefined when there is nothing to breed from. */
  readonly pick: Effect.Effect<Picked | undefined, DatabaseError | ProgramNotFound>
  /** The rows of a sample drawn already (`Population.sample`); the initial program when there is none. */
  readonly readSample: (sample: Sample | undefined) => Effect.Effect<Picked | undefined, DatabaseError | ProgramNotFound>
  /** Rows of `ids` in that order, from the cache where possible, the rest in one query. */
  readonly read: (ids: ReadonlyArray<ProgramId>) => Effect.Effect<ReadonlyArray<Program>, DatabaseError | ProgramNotFound>
  readonly cacheStats: () => { readonly hits: number; readonly misses: number; readonly size: number }
}

const isFinal = (p: Program) => p.status !== "pending"

const labelOf = (origin: number | undefined, kind: string | undefined) =>
  origin !== undefined
    ? `migrant from island ${origin}`
    : kind === "top"
    ? "one of the best"
    : kind === "cell"
    ? "best of another MAP-Elites cell"
    : undefined

export const makeParentPicker = (
  population: Population,
  db: Pick<CandidateStore["Type"], "getPrograms">,
  options: PickerOptions
): ParentPicker => {
  const capacity = Math.max(0, options.cacheSize ?? 256)
  const rank = Math.max(0, options.cacheRank ?? 32)
  /** Insertion order is recency: a hit re-inserts, eviction takes the first key. */
  const cache = new Map<string, Program>()
  let hits = 0
  let misses = 0

  const remember = (program: Program) => {
    if (capacity === 0 || !isFinal(program)) return
    cache.delete(program.id)
    cache.set(program.id, program)
    if (cache.size > capacity) cache.delete(cache.keys().next().value!)
  }

  /** Rows of `ids`; those for which `admit` holds are cached when final. */
  const readWith = (ids: ReadonlyArray<ProgramId>, admit: (index: number) => boolean) =>
    Effect.suspend(() => {
      const out: Array<Program | undefined> = new Array(ids.length)
      const missing: Array<ProgramId> = []
      for (let i = 0; i < ids.length; i++) {
        const cached = cache.get(ids[i]!)
        if (cached === undefined) {
          missing.push(ids[i]!)
          continue
        }
        hits++
        remember(cached) // most recently used again
        out[i] = cached
      }
      if (missing.length === 0) return Effect.succeed(out as Array<Program>)
      misses += missing.length
      return Effect.map(db.getPrograms(missing), (rows) => {
        let k = 0
        for (let i = 0; i < ids.length; i++) {
          if (out[i] !== undefined) continue
          const row = rows[k++]!
          out[i] = row
          if (admit(i)) remember(row)
        }
        return out as Array<Program>
      })
    })

  const read = (ids: ReadonlyArray<ProgramId>) => readWith(ids, () => true)

  const readSample: ParentPicker["readSample"] = (sample) => Effect.gen(function*() {
    if (sample === undefined) {
      // Nothing scored and no failed evaluation remembered: breed from the initial program
      // ("fix" once it failed; while it is still being evaluated, it is sent without metrics).
      const rootId = options.rootId()
      if (rootId === null) return undefined
      const [root] = yield* read([rootId])
      return {
        parent: root!,
        inspirations: [],
        labels: [],
        island: 0,
        mode: root!.status === "pending" ? "explore" as const : "fix" as const
      }
    }
    const members = [sample.parent, ...sample.inspirations]
    const threshold = population.islandRankScore(sample.island, rank)
    const rows = yield* readWith(
      members.map((m) => m.id),
      (i) => {
        const score = members[i]!.score
        return score !== undefined && score >= threshold
      }
    )
    return {
      parent: rows[0]!,
      inspirations: rows.slice(1),
      labels: sample.inspirations.map((m, i) => labelOf(m.origin, sample.inspirationKinds?.[i])),
      island: sample.island,
      mode: sample.mode
    }
  })

  const pick = Effect.flatMap(population.sample, readSample)

  return { pick, readSample, read, cacheStats: () => ({ hits, misses, size: cache.size }) }
}
