import { Context, Effect, Option, Queue } from "effect"

/** A pool of permits handed out strictly first come, first served. */
export interface Pool {
  readonly withPermit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * A FIFO-fair pool of `n` permits. `Effect.makeSemaphore` lets a fiber that releases a permit
 * take it straight back (barging), and a woken waiter that loses the race re-queues at the end:
 * one run's evaluation loop, whose queue is never empty, can starve another run for minutes.
 * Permits here are tokens in a bounded queue, whose takers are served in arrival order.
 */
export const makeFairPool = (n: number): Effect.Effect<Pool> =>
  Effect.gen(function*() {
    const tokens = yield* Queue.bounded<void>(Math.max(1, n))
    yield* Queue.offerAll(tokens, Array.from({ length: Math.max(1, n) }, () => undefined))
    return {
      withPermit: (effect) =>
        Effect.acquireUseRelease(Queue.take(tokens), () => effect, () => Queue.offer(tokens, undefined))
    }
  })

/**
 * Global limits shared by every run in one process (DESIGN §3: the RunManager's one LLM pool and
 * one evaluation pool). Optional: EvolutionRun looks it up with `Effect.serviceOption` and, when
 * present, holds one permit of `llm` around each proposal and one of `evaluations` around each
 * evaluation, on top of the run's own P and W.
 */
export class RunLimits extends Context.Tag("evolve/RunLimits")<RunLimits, {
  readonly llm: Pool
  readonly evaluations: Pool
}>() {}

/** Wrappers that take a permit of the shared pools when a RunLimits service is present. */
export const permits = Effect.map(Effect.serviceOption(RunLimits), (limits) => ({
  llm: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Option.isSome(limits) ? limits.value.llm.withPermit(effect) : effect,
  evaluation: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Option.isSome(limits) ? limits.value.evaluations.withPermit(effect) : effect
}))
