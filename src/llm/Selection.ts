/**
 * Choosing the model of a call in an ensemble.
 *
 * - `weighted`: a draw proportional to `weight` among the available models (Effect `Random`,
 *   so a seeded run is reproducible); all-zero weights mean uniform.
 * - `bandit`: cost-aware UCB1 over the models of non-zero weight, rewarded by score improvement
 *   per USD. For each model:
 *   μ = mean improvement (max(0, child − parent) per outcome) normalised by the largest single
 *   improvement seen, bonus = c·√(2 ln N / n) where n counts outcomes plus calls in flight (so
 *   concurrent picks spread out), and cost = mean USD per outcome relative to the dearest
 *   model (floored at 1%; before any outcome, the configured prices stand in). The index is
 *   (μ + bonus) / cost; models never tried come first, in config order; ties go to config order.
 *   No randomness: the state is only the outcome history, so replaying the history on resume
 *   (`recordOutcome` for every past program) restores it.
 */
import { Effect, Random } from "effect"
import type { ModelSpec } from "./Models.js"

export interface ArmStats {
  readonly name: string
  readonly outcomes: number
  readonly inFlight: number
  readonly totalImprovement: number
  readonly totalUsd: number
  /** The bandit index at the last pick (undefined before the first bandit pick, or for weighted). */
  readonly index?: number | undefined
}

export interface Selector {
  /** Picks one of `available` (non-empty) and counts a call in flight on it. */
  readonly choose: (available: ReadonlyArray<ModelSpec>) => Effect.Effect<ModelSpec>
  /** Counts a call in flight on a model chosen by the caller (pinned requests). */
  readonly begin: (name: string) => void
  /** The call on `name` finished (ok or not). */
  readonly end: (name: string) => void
  readonly recordOutcome: (name: string, improvement: number, usd: number) => void
  readonly stats: () => ReadonlyArray<ArmStats>
}

interface Arm {
  outcomes: number
  inFlight: number
  totalImprovement: number
  totalUsd: number
  index: number | undefined
}

export interface SelectorOptions {
  readonly strategy: "weighted" | "bandit"
  readonly exploration: number
  /** Expected USD of one call per model (from prices), used before a model has outcomes. */
  readonly priorUsd: (model: ModelSpec) => number
}

const COST_FLOOR = 0.01

export const makeSelector = (models: ReadonlyArray<ModelSpec>, options: SelectorOptions): Selector => {
  const arms = new Map<string, Arm>()
  const arm = (name: string): Arm => {
    let a = arms.get(name)
    if (a === undefined) {
      a = { outcomes: 0, inFlight: 0, totalImprovement: 0, totalUsd: 0, index: undefined }
      arms.set(name, a)
    }
    return a
  }
  for (const m of models) arm(m.name)
  let maxImprovement = 0

  const weighted = (available: ReadonlyArray<ModelSpec>) =>
    Effect.gen(function*() {
      if (available.length === 1) return available[0]!
      const total = available.reduce((s, m) => s + m.weight, 0)
      if (total <= 0) return available[yield* Random.nextIntBetween(0, available.length)]!
      let r = (yield* Random.next) * total
      for (const m of available) {
        r -= m.weight
        if (r < 0 && m.weight > 0) return m
      }
      return available.filter((m) => m.weight > 0).at(-1)!
    })

  const bandit = (available: ReadonlyArray<ModelSpec>): ModelSpec => {
    const fresh = available.find((m) => {
      const a = arm(m.name)
      return a.outcomes + a.inFlight === 0
    })
    if (fresh !== undefined) return fresh
    const meanCost = (m: ModelSpec) => {
      const a = arm(m.name)
      return a.outcomes > 0 ? a.totalUsd / a.outcomes : options.priorUsd(m)
    }
    const costs = available.map(meanCost)
    const dearest = Math.max(...costs)
    let pulls = 0
    for (const m of available) {
      const a = arm(m.name)
      pulls += a.outcomes + a.inFlight
    }
    let best = available[0]!
    let bestIndex = -Infinity
    available.forEach((m, i) => {
      const a = arm(m.name)
      const n = a.outcomes + a.inFlight
      const mu = a.outcomes > 0 && maxImprovement > 0 ? a.totalImprovement / a.outcomes / maxImprovement : 0
      const optimistic = a.outcomes === 0 ? 1 : mu
      const bonus = options.exploration * Math.sqrt((2 * Math.log(Math.max(pulls, 1))) / n)
      const cost = dearest > 0 ? Math.max(costs[i]! / dearest, COST_FLOOR) : 1
      const index = (optimistic + bonus) / cost
      a.index = index
      if (index > bestIndex) {
        bestIndex = index
        best = m
      }
    })
    return best
  }

  return {
    choose: (available) =>
      Effect.map(
        options.strategy === "bandit"
          ? Effect.sync(() => {
            // weight 0 takes a model out of the bandit too (unless every model has weight 0)
            const eligible = available.filter((m) => m.weight > 0)
            return bandit(eligible.length > 0 ? eligible : available)
          })
          : weighted(available),
        (m) => {
          arm(m.name).inFlight++
          return m
        }
      ),
    begin: (name) => {
      arm(name).inFlight++
    },
    end: (name) => {
      const a = arm(name)
      a.inFlight = Math.max(0, a.inFlight - 1)
    },
    recordOutcome: (name, improvement, usd) => {
      const a = arm(name)
      const gain = Number.isFinite(improvement) ? Math.max(0, improvement) : 0
      a.outcomes++
      a.totalImprovement += gain
      a.totalUsd += Number.isFinite(usd) ? Math.max(0, usd) : 0
      if (gain > maxImprovement) maxImprovement = gain
    },
    stats: () =>
      [...arms.entries()].map(([name, a]) => ({
        name,
        outcomes: a.outcomes,
        inFlight: a.inFlight,
        totalImprovement: a.totalImprovement,
        totalUsd: a.totalUsd,
        index: a.index
      }))
  }
}
