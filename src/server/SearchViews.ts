/**
 * The search's state as the explorer shows it, rebuilt from stored data with the search's own
 * code: the MAP-Elites grid of each island (population/Grid over the stored descriptors), the
 * objective values of scored programs, and the model bandit (llm/Selection replaying the stored
 * outcomes, as a resumed run does).
 */
import { Effect } from "effect"
import type { DescriptorRow } from "../db/ExploreQueries.js"
import type { LlmOutcome } from "../db/Records.js"
import type { LlmConfig, PopulationConfig } from "../domain/RunConfig.js"
import { resolveModels } from "../llm/Models.js"
import { makeSelector } from "../llm/Selection.js"
import { decodeDescriptor } from "../population/Features.js"
import { Grid } from "../population/Grid.js"
import type { MapElites, ModelArm } from "./ExploreApi.js"

const descriptorOf = (row: DescriptorRow) => {
  try {
    return decodeDescriptor(row.descriptor)
  } catch {
    return {}
  }
}

/** Each island's grid, filled in the order the programs were scored (as the run filled it). */
export const mapElites = (population: PopulationConfig, rows: ReadonlyArray<DescriptorRow>): typeof MapElites.Type => {
  const features = population.map_elites?.features ?? []
  if (features.length === 0) return { features: [], cells: [] }
  const grids = new Map<number, Grid<{ readonly id: string; readonly score: number }>>()
  for (const row of rows) {
    const values = descriptorOf(row).features
    if (values === undefined) continue
    let grid = grids.get(row.island)
    if (grid === undefined) {
      grid = new Grid(features)
      grids.set(row.island, grid)
    }
    grid.add({ id: row.id, score: row.score }, values)
  }
  const cells = [...grids.entries()].sort(([a], [b]) => a - b).flatMap(([island, grid]) =>
    grid.elites.map((elite) => ({
      island,
      coordinates: grid.coordinates(grid.cellOfElite(elite.id)!),
      score: elite.score,
      programId: elite.id
    }))
  )
  return { features: features.map((f) => ({ name: f.name, bins: f.bins })), cells }
}

/** Objective values of every scored program that has them, in columns (null where one was not reported). */
export const objectivePoints = (rows: ReadonlyArray<DescriptorRow>, objectives: number) => {
  const programId: Array<string> = []
  const score: Array<number> = []
  const values = Array.from({ length: objectives }, () => new Array<number | null>())
  for (const row of rows) {
    const o = descriptorOf(row).objectives
    if (o === undefined) continue
    programId.push(row.id)
    score.push(row.score)
    values.forEach((column, k) => column.push(Number.isFinite(o[k]) ? o[k]! : null))
  }
  return { programId, score, values }
}

/** The bandit's view of each model: outcomes, mean improvement and cost, and its index for the next pick. */
export const modelArms = (llm: LlmConfig, outcomes: ReadonlyArray<LlmOutcome>) =>
  Effect.gen(function*() {
    const models = resolveModels(llm)
    const selector = makeSelector(models, { strategy: llm.selection, exploration: llm.bandit_exploration, priorUsd: () => 0 })
    for (const o of outcomes) selector.recordOutcome(o.model, o.improvement, o.usd)
    // A bandit pick computes every model's index; this selector is a copy, so the pick counts nowhere.
    if (llm.selection === "bandit" && models.length > 1) yield* selector.choose(models)
    const weights = new Map(models.map((m) => [m.name, m.weight]))
    return selector.stats().map((a): typeof ModelArm.Type => ({
      model: a.name,
      weight: weights.get(a.name) ?? 0,
      outcomes: a.outcomes,
      meanImprovement: a.outcomes > 0 ? a.totalImprovement / a.outcomes : 0,
      meanUsd: a.outcomes > 0 ? a.totalUsd / a.outcomes : 0,
      index: a.index ?? null
    }))
  })
