/**
 * Slot occupancy of a pool (LLM slots, evaluator slots) from the intervals its slots were busy:
 * the share of the pool's capacity in use over a window. `min(in flight, capacity) ÷ capacity`
 * integrated over time cannot exceed 1, however the work arrives (bursts, waves, a queue
 * filled ahead), which a completion-rate estimate can.
 */

export interface Interval {
  readonly start: number
  readonly end: number
}

/** Changes of the in-flight count in time order; at equal times an end comes before a start. */
const changes = (intervals: ReadonlyArray<Interval>): Array<readonly [time: number, delta: 1 | -1]> =>
  intervals
    .flatMap((i): Array<readonly [number, 1 | -1]> => [[i.start, 1], [Math.max(i.start, i.end), -1]])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])

/** The first time at least `count` intervals are in flight, or undefined if that never happens. */
export const firstTimeInFlight = (intervals: ReadonlyArray<Interval>, count: number): number | undefined => {
  let inFlight = 0
  for (const [time, delta] of changes(intervals)) {
    inFlight += delta
    if (inFlight >= count) return time
  }
  return undefined
}

/** The most intervals in flight at once. */
export const maxInFlight = (intervals: ReadonlyArray<Interval>): number => {
  let inFlight = 0
  let max = 0
  for (const [, delta] of changes(intervals)) {
    inFlight += delta
    max = Math.max(max, inFlight)
  }
  return max
}

/** ∫ min(in flight, capacity) dt over [from, to] ÷ (capacity × (to − from)), in [0, 1]. */
export const slotShare = (intervals: ReadonlyArray<Interval>, capacity: number, from: number, to: number): number => {
  if (!(to > from) || capacity <= 0) return Number.NaN
  let inFlight = 0
  let last = from
  let used = 0
  for (const [time, delta] of changes(intervals)) {
    const t = Math.min(Math.max(time, from), to)
    used += Math.min(inFlight, capacity) * (t - last)
    last = t
    inFlight += delta
  }
  used += Math.min(inFlight, capacity) * (to - last)
  return used / (capacity * (to - from))
}

export interface SteadyWindow {
  readonly from: number
  readonly to: number
  /** How many in flight open the window: min(capacity, number of intervals). */
  readonly target: number
  /** False when the target was never reached; the window then opens when the most ever in flight first were. */
  readonly targetReached: boolean
}

/**
 * The steady window of a pool: from the first moment min(capacity, intervals) are in flight (all
 * slots busy: start-up is over) to the last start (after it the pool only drains, since nothing
 * more was needed). Undefined when there are no intervals or the window is empty.
 */
export const steadyWindow = (intervals: ReadonlyArray<Interval>, capacity: number): SteadyWindow | undefined => {
  if (intervals.length === 0) return undefined
  const target = Math.min(capacity, intervals.length)
  const reached = firstTimeInFlight(intervals, target)
  const from = reached ?? firstTimeInFlight(intervals, maxInFlight(intervals))!
  const to = Math.max(...intervals.map((i) => i.start))
  return to > from ? { from, to, target, targetReached: reached !== undefined } : undefined
}
