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

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits))
