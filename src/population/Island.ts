/**
 * One island of a population: its members best first (its own programs, migrant copies, the
 * initial program), its MAP-Elites grid and Pareto front when configured, the reference codes
 * of the edit-distance feature, and its recent failures for fix mode.
 */
import type { PopulationEntry } from "../db/Records.js"
import type { ProgramId } from "../domain/Ids.js"
import type { Descriptor } from "./Features.js"
import { type FeatureSpec, Grid } from "./Grid.js"
import type { FrontEntry } from "./Pareto.js"

/** One program as a member of one island. */
export interface Member extends PopulationEntry {
  readonly descriptor?: Descriptor | undefined
  /** Set on migrant copies: the island the program came from. */
  readonly origin?: number | undefined
  /** The initial program, shared by every island (never migrates). */
  readonly root?: boolean | undefined
}

/** A failed evaluation remembered for fix mode. */
export interface FailedEntry {
  readonly id: ProgramId
  readonly island: number
  readonly generation: number
  readonly kind: string
}

/** Beyond this many members an island's front drops its lowest-scoring member (sampling needs no more). */
export const FRONT_CAP = 1024

/** How far a failed evaluation got (higher: closer to working). */
export const failureRank: Record<string, number> = { bad_metrics: 3, output_limit: 2, timeout: 1, evaluator_error: 0 }
const FAILURES_KEPT = 8

export class Island {
  /** Every member, best first. */
  readonly members: Array<Member> = []
  readonly ids = new Set<string>()
  readonly migrants: Array<Member> = []
  grid: Grid<Member> | undefined
  front: Array<FrontEntry<Member>> = []
  readonly failures: Array<FailedEntry> = []
  /** Codes of the best members, for the edit-distance feature: best first. */
  readonly references: Array<{ readonly id: string; readonly score: number; code: string | undefined }> = []

  constructor(readonly index: number, features: ReadonlyArray<FeatureSpec>) {
    this.grid = features.length > 0 ? new Grid<Member>(features) : undefined
  }

  /** The programs parents are drawn from: the grid's elites, or every member. */
  get pool(): ReadonlyArray<Member> {
    return this.grid ? this.grid.elites : this.members
  }

  /** Remembers a failed evaluation (the last few only). */
  addFailure(entry: FailedEntry): void {
    this.failures.push(entry)
    if (this.failures.length > FAILURES_KEPT) this.failures.shift()
  }

  bestFailure(): FailedEntry | undefined {
    let best: FailedEntry | undefined
    for (let i = this.failures.length - 1; i >= 0; i--) {
      const f = this.failures[i]!
      if (best === undefined || (failureRank[f.kind] ?? -1) > (failureRank[best.kind] ?? -1)) best = f
    }
    return best
  }
}
