import { Context, Effect, Layer, Queue } from "effect"

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
 * Limits shared by every run in one process (DESIGN §3: the RunManager's one LLM pool and one
 * evaluation pool): a run holds one permit of `llm` around each proposal and one of
 * `evaluations` around each evaluation, on top of its own P and W. A run on its own is
 * `unlimited`.
 */
export class RunLimits extends Context.Tag("evolve/RunLimits")<RunLimits, {
  readonly llm: Pool
  readonly evaluations: Pool
}>() {}

const noLimit: Pool = { withPermit: (effect) => effect }

/** No limit beyond the run's own: a run the CLI or the facade drives alone. */
export const unlimited: Layer.Layer<RunLimits> = Layer.succeed(RunLimits, { llm: noLimit, evaluations: noLimit })
