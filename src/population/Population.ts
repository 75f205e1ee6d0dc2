import { Effect, Random } from "effect"
import type { PopulationEntry } from "../db/ProgramDatabase.js"

export interface Sample {
  readonly parent: PopulationEntry
  readonly inspirations: ReadonlyArray<PopulationEntry>
}

export interface SamplingOptions {
  /** Probability of picking the parent by rank (biased to the top) rather than uniformly. */
  readonly exploitation: number
  /** Power applied to a uniform draw over ranks: higher means closer to hill-climbing. */
  readonly rankPower: number
  readonly topInspirations: number
  readonly randomInspirations: number
}

export const defaultSampling: SamplingOptions = {
  exploitation: 0.7,
  rankPower: 3,
  topInspirations: 2,
  randomInspirations: 1
}

/**
 * The scored programs of a run, kept in memory sorted by score (best first) so that sampling
 * a parent and inspirations costs O(1) and adding a program costs one binary search.
 * Holds ids and scores only; code stays in the database.
 */
export class Population {
  private readonly sorted: Array<PopulationEntry> = []

  constructor(entries: Iterable<PopulationEntry> = [], readonly options: SamplingOptions = defaultSampling) {
    for (const entry of entries) this.sorted.push(entry)
    this.sorted.sort((a, b) => b.score - a.score)
  }

  get size(): number {
    return this.sorted.length
  }

  get best(): PopulationEntry | undefined {
    return this.sorted[0]
  }

  add(entry: PopulationEntry): void {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sorted[mid]!.score >= entry.score) lo = mid + 1
      else hi = mid
    }
    this.sorted.splice(lo, 0, entry)
  }

  top(n: number): ReadonlyArray<PopulationEntry> {
    return this.sorted.slice(0, n)
  }

  /** A parent (rank-biased or uniform) and inspirations: the best others plus random others. */
  readonly sample: Effect.Effect<Sample | undefined> = Effect.suspend(() => {
    const entries = this.sorted
    const n = entries.length
    if (n === 0) return Effect.succeed(undefined)
    const { exploitation, rankPower, topInspirations, randomInspirations } = this.options
    return Effect.gen(function*() {
      const exploit = (yield* Random.next) < exploitation
      const u = yield* Random.next
      const parentIndex = Math.min(n - 1, Math.floor(n * (exploit ? u ** rankPower : u)))
      const chosen = new Set<number>([parentIndex])
      const inspirations: Array<PopulationEntry> = []
      for (let i = 0; i < n && inspirations.length < topInspirations; i++) {
        if (chosen.has(i)) continue
        chosen.add(i)
        inspirations.push(entries[i]!)
      }
      const wanted = Math.min(n - chosen.size, randomInspirations)
      for (let added = 0, tries = 0; added < wanted && tries < 8 * wanted; tries++) {
        const i = yield* Random.nextIntBetween(0, n)
        if (chosen.has(i)) continue
        chosen.add(i)
        inspirations.push(entries[i]!)
        added++
      }
      return { parent: entries[parentIndex]!, inspirations }
    })
  })
}
