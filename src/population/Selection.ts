/**
 * Parent-selection draws over a pool sorted best first. Every draw goes through Effect's
 * `Random`, which the run seeds, so a run is reproducible. All are O(1) or O(log n) except
 * `fitnessWeighted`, which looks at most at the best {@link WEIGHTED_POOL_CAP} programs.
 */
import { Effect, Random } from "effect"

/**
 * P(rank r) ∝ (r + 1)^-alpha for r in [0, n), drawn by inverting the CDF of the continuous
 * density x^-alpha on [1, n + 1) and flooring (exact in the limit, and O(1)); alpha = 0 is uniform.
 */
export const powerLawRank = (n: number, alpha: number): Effect.Effect<number> =>
  Effect.map(Random.next, (u) => powerLawRankOf(n, alpha, u))

export const powerLawRankOf = (n: number, alpha: number, u: number): number => {
  if (n <= 1) return 0
  const top = n + 1
  const x = Math.abs(alpha - 1) < 1e-9
    ? Math.pow(top, u)
    : Math.pow(1 + u * (Math.pow(top, 1 - alpha) - 1), 1 / (1 - alpha))
  return Math.min(n - 1, Math.max(0, Math.floor(x) - 1))
}

/** The probability `powerLawRank(n, alpha)` gives rank `r` (for tests and docs). */
export const powerLawProbability = (n: number, alpha: number, r: number): number => {
  const cdf = (x: number) =>
    Math.abs(alpha - 1) < 1e-9
      ? Math.log(x) / Math.log(n + 1)
      : (Math.pow(x, 1 - alpha) - 1) / (Math.pow(n + 1, 1 - alpha) - 1)
  return cdf(r + 2) - cdf(r + 1)
}

export const uniformIndex = (n: number): Effect.Effect<number> => (n <= 1 ? Effect.succeed(0) : Random.nextIntBetween(0, n))

/** Ranks beyond this carry negligible weight; capping keeps a draw well under a millisecond. */
export const WEIGHTED_POOL_CAP = 1024

export interface Scored {
  readonly id: string
  readonly score: number
}

/**
 * Weights of the fitness-weighted strategy over `pool` (sorted best first, at most
 * {@link WEIGHTED_POOL_CAP} used): sigmoid(sharpness · (score − median) / spread), divided by
 * (1 + penalty · times the program was already a parent).
 */
export const fitnessWeights = (
  pool: ReadonlyArray<Scored>,
  uses: ReadonlyMap<string, number>,
  sharpness: number,
  penalty: number
): Array<number> => {
  const m = Math.min(pool.length, WEIGHTED_POOL_CAP)
  if (m === 0) return []
  const median = pool[m >> 1]!.score
  const spread = Math.max(pool[0]!.score - pool[m - 1]!.score, 1e-12)
  const weights = new Array<number>(m)
  for (let i = 0; i < m; i++) {
    const p = pool[i]!
    const z = (sharpness * (p.score - median)) / spread
    const w = 1 / (1 + Math.exp(-z))
    weights[i] = w / (1 + penalty * (uses.get(p.id) ?? 0))
  }
  return weights
}

/** Index drawn proportionally to `weights` (uniform when they are all zero). */
export const weightedIndex = (weights: ReadonlyArray<number>): Effect.Effect<number> =>
  Effect.map(Random.next, (u) => {
    let total = 0
    for (const w of weights) total += w
    if (!(total > 0)) return Math.min(weights.length - 1, Math.floor(u * weights.length))
    let r = u * total
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!
      if (r < 0) return i
    }
    return weights.length - 1
  })

/** A fitness-weighted draw over `pool` (the weights of {@link fitnessWeights}, computed without allocating). */
export const fitnessWeightedIndex = (
  pool: ReadonlyArray<Scored>,
  uses: ReadonlyMap<string, number>,
  sharpness: number,
  penalty: number
): Effect.Effect<number> =>
  Effect.map(Random.next, (u) => {
    const m = Math.min(pool.length, WEIGHTED_POOL_CAP)
    if (m <= 1) return 0
    const median = pool[m >> 1]!.score
    const spread = Math.max(pool[0]!.score - pool[m - 1]!.score, 1e-12)
    const weight = (i: number) => {
      const p = pool[i]!
      const w = 1 / (1 + Math.exp((-sharpness * (p.score - median)) / spread))
      return penalty === 0 ? w : w / (1 + penalty * (uses.get(p.id) ?? 0))
    }
    let total = 0
    for (let i = 0; i < m; i++) total += weight(i)
    let r = u * total
    for (let i = 0; i < m; i++) {
      r -= weight(i)
      if (r < 0) return i
    }
    return m - 1
  })
