/**
 * Stall detection per island (issue 17), as pure transitions on plain values.
 *
 * Each island counts its own evaluations (children bred on it, scored or failed) and remembers
 * when its best score last rose by at least MIN_GAIN (relative). It stalls after `window` evaluations without a better best,
 * where the window grows with the island's history: max(minWindow, half the evaluations it
 * took to reach its current best). Every further window without improvement raises its
 * exploration level (up to MAX_LEVEL); a better best ends the stall. When every island has
 * reached SHIFT_LEVEL (exploring had a window and failed), a paradigm shift is due, at most once
 * per `minWindow × islands` evaluations.
 */

export const MAX_LEVEL = 3
/** A better best must beat the old one by this share of its magnitude to end a stall (creeping up a plateau does not). */
export const MIN_GAIN = 1e-3

export interface IslandStall {
  /** The island's best score so far (undefined: nothing scored on it yet). */
  readonly best: number | undefined
  /** Evaluations of programs bred on this island. */
  readonly evaluations: number
  /** The island's evaluation count when its best last rose. */
  readonly improvedAt: number
  /** 0: normal; 1..MAX_LEVEL: stalled, exploring more with each level. */
  readonly level: number
}

export interface StallState {
  readonly minWindow: number
  readonly islands: ReadonlyArray<IslandStall>
  /** Evaluations of the run (all islands) at the last paradigm shift; null: none yet. */
  readonly shiftAt: number | null
  readonly evaluations: number
}

export type StallDecision =
  | { readonly _tag: "Stalled"; readonly island: number; readonly level: number; readonly reason: string }
  | { readonly _tag: "Raised"; readonly island: number; readonly level: number; readonly reason: string }
  | { readonly _tag: "Recovered"; readonly island: number; readonly reason: string }
  | { readonly _tag: "ShiftDue"; readonly reason: string }

const fmt = (x: number | undefined) => (x === undefined ? "none" : String(Number(x.toPrecision(6))))

export const initial = (islands: number, minWindow: number, bests: ReadonlyArray<number | undefined> = []): StallState => ({
  minWindow,
  islands: Array.from({ length: Math.max(1, islands) }, (_, i) => ({ best: bests[i], evaluations: 0, improvedAt: 0, level: 0 })),
  shiftAt: null,
  evaluations: 0
})

/** The stall window of an island: at least `minWindow`, half of the evaluations its best took. */
export const windowOf = (state: StallState, island: IslandStall) => Math.max(state.minWindow, Math.ceil(island.improvedAt / 2))

/** Exploration level of an island (0: not stalled). */
export const levelOf = (state: StallState, island: number) => state.islands[island % state.islands.length]?.level ?? 0

/** Exploration level every island must have reached for a paradigm shift (level 1 had a window to work and failed). */
export const SHIFT_LEVEL = 2

/** Whether exploring has failed everywhere: every island at SHIFT_LEVEL or above. */
export const allExhausted = (state: StallState) => state.islands.every((i) => i.level >= SHIFT_LEVEL)

/**
 * One evaluation of a program bred on `island` (`score` undefined: it failed). Returns the next
 * state and the decisions it brings (at most a stall change of that island and a due shift).
 */
export const observe = (
  state: StallState,
  islandIndex: number,
  score: number | undefined
): readonly [StallState, ReadonlyArray<StallDecision>] => {
  const index = islandIndex % state.islands.length
  const before = state.islands[index]!
  const decisions: Array<StallDecision> = []
  const evaluations = before.evaluations + 1
  let island: IslandStall
  const gained = score !== undefined && (before.best === undefined || score > before.best + MIN_GAIN * Math.max(Math.abs(before.best), 1e-9))
  if (score !== undefined && before.best !== undefined && score > before.best && !gained) {
    // A marginal gain: the best rises, the stall clock does not restart.
    island = { ...before, best: score, evaluations: before.evaluations }
  } else {
    island = before
  }
  if (gained) {
    island = { best: score, evaluations, improvedAt: evaluations, level: 0 }
    if (before.level > 0) {
      decisions.push({
        _tag: "Recovered",
        island: index,
        reason: `island ${index} improved its best from ${fmt(before.best)} to ${fmt(score)}: exploration back to normal`
      })
    }
  } else {
    const window = windowOf(state, before)
    const since = evaluations - before.improvedAt
    const level = Math.min(MAX_LEVEL, Math.floor(since / window))
    island = { ...island, evaluations, level: Math.max(before.level, level) }
    if (island.level > before.level) {
      const reason = `island ${index}: no better best than ${fmt(before.best)} in ${since} evaluations (window ${window})`
      decisions.push(
        before.level === 0
          ? { _tag: "Stalled", island: index, level: island.level, reason }
          : { _tag: "Raised", island: index, level: island.level, reason }
      )
    }
  }
  const islands = state.islands.map((i, k) => (k === index ? island : i))
  let next: StallState = { ...state, islands, evaluations: state.evaluations + 1 }
  const spacing = state.minWindow * islands.length
  if (allExhausted(next) && (next.shiftAt === null || next.evaluations - next.shiftAt >= spacing)) {
    next = { ...next, shiftAt: next.evaluations }
    decisions.push({
      _tag: "ShiftDue",
      reason: islands.length === 1
        ? `the search stalled: no better best than ${fmt(islands[0]!.best)} in ${islands[0]!.evaluations - islands[0]!.improvedAt} evaluations`
        : `every island stalled (bests ${islands.map((i) => fmt(i.best)).join(", ")})`
    })
  }
  return [next, decisions]
}

/**
 * The stall state after a run's counted evaluations, in their order (`initial`: the run's
 * initial program, every island's first member; `score` null: a failed evaluation): what a
 * resumed run continues from, as if it had never stopped.
 */
export const replay = (
  islands: number,
  minWindow: number,
  history: ReadonlyArray<{ readonly initial: boolean; readonly island: number; readonly score: number | null }>
): StallState => {
  let state = initial(islands, minWindow, [])
  for (const e of history) {
    if (e.initial) {
      if (e.score !== null) state = initial(islands, minWindow, Array(Math.max(1, islands)).fill(e.score))
    } else {
      state = observe(state, e.island, e.score ?? undefined)[0]
    }
  }
  return state
}
