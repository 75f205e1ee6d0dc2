/**
 * One timeline for everything a run leaves behind: the fake server stamps requests with this
 * process's `performance.now()`, evaluators and the tree launcher write wall-clock (epoch) times.
 */
import { performance } from "node:perf_hooks"

/**
 * Epoch ms minus `performance.now()` ms, taken at the edge of a `Date.now()` millisecond so it
 * is exact to a few microseconds (`performance.timeOrigin` is fixed at process start, and the
 * two clocks drift apart over a long scenario).
 */
export const epochOffsetMs = (): number => {
  const first = Date.now()
  let now = first
  let at = performance.now()
  while (now === first) {
    at = performance.now()
    now = Date.now()
  }
  return now - at
}

/** Epoch nanoseconds as an integer string (`date +%s%N`, `time.time_ns()`) → epoch ms. */
export const nsToMs = (ns: string): number => {
  const value = BigInt(ns)
  return Number(value / 1000n) / 1000
}
