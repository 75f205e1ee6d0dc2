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

/**
 * Adds `item` to a front (returned as a new array, or the same one when `item` is dominated).
 * Members the newcomer dominates leave; equal vectors stay side by side.
 */
export const addToFront = <A>(
  front: ReadonlyArray<A>,
  item: A,
  vector: (a: A) => ReadonlyArray<number>
): ReadonlyArray<A> => {
  const v = vector(item)
  if (!isComplete(v)) return front
  for (const f of front) if (dominates(vector(f), v)) return front
  const kept = front.filter((f) => !dominates(v, vector(f)))
  kept.push(item)
  return kept
}

/** The non-dominated items of `items` (order kept). */
export const paretoFront = <A>(items: ReadonlyArray<A>, vector: (a: A) => ReadonlyArray<number>): Array<A> => {
  let front: ReadonlyArray<A> = []
  for (const item of items) front = addToFront(front, item, vector)
  const keep = new Set(front)
  return items.filter((i) => keep.has(i))
}
