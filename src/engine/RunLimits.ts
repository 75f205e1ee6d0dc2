import { Context, Effect, Option } from "effect"

/**
 * Global limits shared by every run in one process (DESIGN §3: the RunManager's one LLM pool and
 * one evaluation pool). Optional: EvolutionRun looks it up with `Effect.serviceOption` and, when
 * present, holds one permit of `llm` around each proposal and one of `evaluations` around each
 * evaluation, on top of the run's own P and W.
 */
export class RunLimits extends Context.Tag("evolve/RunLimits")<RunLimits, {
  readonly llm: Effect.Semaphore
  readonly evaluations: Effect.Semaphore
}>() {}

/** Wrappers that take a permit of the shared pools when a RunLimits service is present. */
export const permits = Effect.map(Effect.serviceOption(RunLimits), (limits) => ({
  llm: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Option.isSome(limits) ? limits.value.llm.withPermits(1)(effect) : effect,
  evaluation: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Option.isSome(limits) ? limits.value.evaluations.withPermits(1)(effect) : effect
}))
