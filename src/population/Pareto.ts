/**
 * Pareto dominance over objective vectors. Vectors are "oriented" first (minimised objectives
 * negated) so that larger is better in every coordinate. A vector with a NaN (metric not
 * reported) never enters a front.
 */
import type { Direction } from "../domain/RunConfig.js"

export const orient = (values: ReadonlyArray<number>, directions: ReadonlyArray<Direction>): Array<number> =>
  values.map((v, i) => (directions[i] === "minimize" ? -v : v))

export const isComplete = (v: ReadonlyArray<number>): boolean => v.every((x) => Number.isFinite(x))

/** `a` dominates `b`: at least as good everywhere and strictly better somewhere (larger is better). */
export const dominates = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => {
  let strictly = false
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return false
    if (a[i]! > b[i]!) strictly = true
  }
  return strictly
}

/** A candidate for a front: an oriented objective vector and a score (the tie-breaker of the cap). */
export interface FrontEntry<A> {
  readonly member: A
  readonly v: ReadonlyArray<number>
  readonly score: number
}

/**
 * Adds to a front in place: a dominated newcomer is dropped, members it dominates leave, equal
 * vectors stay side by side. Past `cap` members the lowest-scoring one leaves.
 */
export const addToFront = <A>(front: Array<FrontEntry<A>>, entry: FrontEntry<A>, cap = Infinity): void => {
  for (const f of front) if (dominates(f.v, entry.v)) return
  let k = 0
  for (const f of front) if (!dominates(entry.v, f.v)) front[k++] = f
  front.length = k
  front.push(entry)
  if (front.length > cap) {
    let worst = 0
    for (let i = 1; i < front.length; i++) if (front[i]!.score < front[worst]!.score) worst = i
    front.splice(worst, 1)
  }
}

/**
 * The non-dominated entries, in one sweep: sorted lexicographically (best first), a point can
 * only be dominated by an earlier one. Past `cap`, the best-scoring `cap` are kept.
 */
export const frontOf = <A>(entries: ReadonlyArray<FrontEntry<A>>, cap = Infinity): Array<FrontEntry<A>> => {
  const sorted = [...entries].sort((a, b) => {
    for (let i = 0; i < a.v.length; i++) if (a.v[i] !== b.v[i]) return b.v[i]! - a.v[i]!
    return 0
  })
  const front: Array<FrontEntry<A>> = []
  for (const e of sorted) if (!front.some((f) => dominates(f.v, e.v))) front.push(e)
  if (front.length > cap) {
    front.sort((a, b) => b.score - a.score)
    front.length = cap
  }
  return front
}
