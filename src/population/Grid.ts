/**
 * A MAP-Elites grid: each feature dimension is cut into `bins` equal bins between a minimum and
 * a maximum (fixed in config, or min-max scaled over the values seen so far, with 5% headroom
 * when the range grows so that re-binning stays rare); each cell keeps its best program (ties
 * keep the incumbent). When an observed range grows, every placed program is re-binned.
 */

export interface FeatureSpec {
  readonly name: string
  readonly bins: number
  readonly min?: number | undefined
  readonly max?: number | undefined
}

export interface GridMember {
  readonly id: string
  readonly score: number
}

const HEADROOM = 0.05

/** Inserts `m` into `sorted` (best first, after equal scores). */
export const insertSorted = <M extends { readonly score: number }>(sorted: Array<M>, m: M): void => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]!.score >= m.score) lo = mid + 1
    else hi = mid
  }
  sorted.splice(lo, 0, m)
}

/** Removes `m` (by identity) from `sorted`; true when it was there. */
export const removeSorted = <M extends { readonly score: number }>(sorted: Array<M>, m: M): boolean => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]!.score > m.score) lo = mid + 1
    else hi = mid
  }
  for (let i = lo; i < sorted.length && sorted[i]!.score === m.score; i++) {
    if (sorted[i] === m) {
      sorted.splice(i, 1)
      return true
    }
  }
  const i = sorted.indexOf(m)
  if (i >= 0) sorted.splice(i, 1)
  return i >= 0
}

export class Grid<M extends GridMember> {
  private readonly lo: Array<number>
  private readonly hi: Array<number>
  private readonly cells = new Map<number, M>()
  private readonly cellById = new Map<string, number>()
  private readonly placed: Array<{ readonly member: M; readonly values: ReadonlyArray<number> }> = []
  /** The cell elites, best first. */
  readonly elites: Array<M> = []
  /** How many times the grid was re-binned because a range grew. */
  rebuilds = 0

  constructor(readonly features: ReadonlyArray<FeatureSpec>) {
    this.lo = features.map((f) => f.min ?? Number.POSITIVE_INFINITY)
    this.hi = features.map((f) => f.max ?? Number.NEGATIVE_INFINITY)
  }

  get occupied(): number {
    return this.cells.size
  }

  /** Bin index of `value` on dimension `k` with the current range. */
  binOf(k: number, value: number): number {
    const f = this.features[k]!
    const lo = this.lo[k]!
    const hi = this.hi[k]!
    if (!(hi > lo)) return 0
    const x = Math.min(hi, Math.max(lo, value))
    return Math.min(f.bins - 1, Math.floor(((x - lo) / (hi - lo)) * f.bins))
  }

  /** The cell (one number) holding `values`. */
  cellOf(values: ReadonlyArray<number>): number {
    let key = 0
    for (let k = 0; k < this.features.length; k++) key = key * this.features[k]!.bins + this.binOf(k, values[k]!)
    return key
  }

  /** Bin coordinates of a cell. */
  coordinates(cell: number): Array<number> {
    const out = new Array<number>(this.features.length)
    for (let k = this.features.length - 1; k >= 0; k--) {
      const bins = this.features[k]!.bins
      out[k] = cell % bins
      cell = Math.floor(cell / bins)
    }
    return out
  }

  /** The cell an elite occupies, if `id` is one. */
  cellOfElite(id: string): number | undefined {
    return this.cellById.get(id)
  }

  eliteAt(cell: number): M | undefined {
    return this.cells.get(cell)
  }

  /** Widens the ranges to cover `values` without placing anything (before a bulk load). */
  observe(values: ReadonlyArray<number>): void {
    if (values.length !== this.features.length || !values.every((v) => Number.isFinite(v))) return
    for (let k = 0; k < values.length; k++) {
      const f = this.features[k]!
      if (f.min === undefined && values[k]! < this.lo[k]!) this.lo[k] = values[k]!
      if (f.max === undefined && values[k]! > this.hi[k]!) this.hi[k] = values[k]!
    }
  }

  /**
   * Places a program with its feature values. Programs with a missing (NaN) value stay out of
   * the grid. Returns the cell and whether the program became that cell's elite.
   */
  add(member: M, values: ReadonlyArray<number>): { readonly cell: number; readonly elite: boolean } | undefined {
    if (values.length !== this.features.length || !values.every((v) => Number.isFinite(v))) return undefined
    this.placed.push({ member, values })
    let grew = false
    for (let k = 0; k < values.length; k++) {
      const f = this.features[k]!
      const v = values[k]!
      const lo = this.lo[k]!
      const hi = this.hi[k]!
      if (lo === Number.POSITIVE_INFINITY && hi === Number.NEGATIVE_INFINITY) {
        if (f.min === undefined) this.lo[k] = v
        if (f.max === undefined) this.hi[k] = v
        if (f.min === undefined || f.max === undefined) grew = true
        continue
      }
      if (v < lo && f.min === undefined) {
        this.lo[k] = v - HEADROOM * (this.hi[k]! - v)
        grew = true
      }
      if (v > hi && f.max === undefined) {
        this.hi[k] = v + HEADROOM * (v - this.lo[k]!)
        grew = true
      }
      if (f.min === undefined && this.lo[k] === Number.POSITIVE_INFINITY) this.lo[k] = v
      if (f.max === undefined && this.hi[k] === Number.NEGATIVE_INFINITY) this.hi[k] = v
    }
    if (grew && this.placed.length > 1) {
      this.rebuild()
      const cell = this.cellOf(values)
      return { cell, elite: this.cells.get(cell) === member }
    }
    return this.place(member, values)
  }

  private place(member: M, values: ReadonlyArray<number>) {
    const cell = this.cellOf(values)
    const current = this.cells.get(cell)
    if (current !== undefined && current.score >= member.score) return { cell, elite: false }
    if (current !== undefined) {
      removeSorted(this.elites, current)
      this.cellById.delete(current.id)
    }
    this.cells.set(cell, member)
    this.cellById.set(member.id, cell)
    insertSorted(this.elites, member)
    return { cell, elite: true }
  }

  private rebuild() {
    this.rebuilds++
    this.cells.clear()
    this.cellById.clear()
    this.elites.length = 0
    for (const { member, values } of this.placed) {
      const cell = this.cellOf(values)
      const current = this.cells.get(cell)
      if (current === undefined || member.score > current.score) {
        if (current !== undefined) this.cellById.delete(current.id)
        this.cells.set(cell, member)
        this.cellById.set(member.id, cell)
      }
    }
    for (const m of this.cells.values()) this.elites.push(m)
    this.elites.sort((a, b) => b.score - a.score)
  }
}
