/** Small, dependency-free statistics over samples (milliseconds unless stated). */

export const sum = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0)

export const mean = (xs: ReadonlyArray<number>): number => (xs.length === 0 ? Number.NaN : sum(xs) / xs.length)

/** Nearest-rank percentile, p in [0, 100]. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export const median = (xs: ReadonlyArray<number>): number => percentile(xs, 50)

export interface Distribution {
  readonly n: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

export const distribution = (xs: ReadonlyArray<number>): Distribution => ({
  n: xs.length,
  mean: mean(xs),
  p50: percentile(xs, 50),
  p90: percentile(xs, 90),
  p99: percentile(xs, 99),
  max: xs.length === 0 ? Number.NaN : Math.max(...xs)
})

/**
 * Steady-state rate (events per second) from completion timestamps in ms: the least-squares
 * slope of the cumulative count over time, for the completions between the `from`-th and `to`-th
 * percentile. Start-up and the tail (fewer than P proposals left) fall outside the window, and
 * the slope is not thrown off by completions that arrive in waves, as a count ÷ span would be.
 */
export const steadyRate = (timesMs: ReadonlyArray<number>, from = 0.2, to = 0.8): number => {
  const sorted = [...timesMs].sort((a, b) => a - b)
  const window = sorted.slice(Math.floor(from * (sorted.length - 1)), Math.floor(to * (sorted.length - 1)) + 1)
  if (window.length < 3) return Number.NaN
  const meanT = mean(window)
  const meanI = (window.length - 1) / 2
  let covariance = 0
  let variance = 0
  window.forEach((t, i) => {
    covariance += (t - meanT) * (i - meanI)
    variance += (t - meanT) ** 2
  })
  return variance > 0 ? (covariance / variance) * 1000 : Number.NaN
}

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits))
