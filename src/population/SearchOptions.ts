/** The search settings of a population (from the run config's `population:` section). */
import { type Direction, PopulationConfig, type SelectionStrategy } from "../domain/RunConfig.js"
import type { FeatureSpec } from "./Grid.js"

export interface SearchOptions {
  readonly islands: number
  readonly selection: SelectionStrategy
  readonly powerLawAlpha: number
  readonly exploitation: number
  readonly beamWidth: number
  readonly reusePenalty: number
  readonly weightSharpness: number
  readonly paretoShare: number
  readonly topInspirations: number
  readonly diverseInspirations: number
  readonly migrationFraction: number
  readonly features: ReadonlyArray<FeatureSpec>
  readonly referencePrograms: number
  readonly objectives: ReadonlyArray<{ readonly metric: string; readonly direction: Direction }>
}

export const optionsFromConfig = (c: PopulationConfig): SearchOptions => ({
  islands: c.islands,
  selection: c.selection,
  powerLawAlpha: c.power_law_alpha,
  exploitation: c.exploitation,
  beamWidth: c.beam_width,
  reusePenalty: c.reuse_penalty,
  weightSharpness: c.weight_sharpness,
  paretoShare: c.pareto_share,
  topInspirations: c.inspirations.top,
  diverseInspirations: c.inspirations.diverse,
  migrationFraction: c.migration_fraction,
  features: c.map_elites?.features ?? [],
  referencePrograms: c.map_elites?.reference_programs ?? 4,
  objectives: c.objectives ?? []
})

export const defaultOptions: SearchOptions = optionsFromConfig(PopulationConfig.make({}))
