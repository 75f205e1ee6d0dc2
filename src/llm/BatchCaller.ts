/**
 * How llmBatch's Promise form joins the Effect code it is called from: it runs as a
 * continuation of the caller's FiberRefs (its services, LlmClient included, its span, tracer
 * and log settings), so a nested batch shares the caller's client and limits and its spans are
 * children of the caller's span. The caller is the fiber running the synchronous code that calls
 * llmBatch (`Effect.promise(() => llmBatch(…))`, an evaluator callback); or, for Promise code
 * that continues after an `await` in a batch's validator or progress callback, the batch item
 * that called it (the callback runs with the item's FiberRefs in an AsyncLocalStorage).
 */
import { AsyncLocalStorage } from "node:async_hooks"
import { Context, Effect, Fiber, FiberRef, FiberRefs, Option } from "effect"
import { LlmClient } from "./LlmClient.js"

const callbackRefs = new AsyncLocalStorage<FiberRefs.FiberRefs>()

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/**
 * Calls a user callback with the current fiber's FiberRefs visible to the Promise code it
 * starts; its result may be a value, a Promise or an Effect.
 */
export const callUser = <A>(f: () => A | PromiseLike<A> | Effect.Effect<A, unknown, never>): Effect.Effect<A, unknown> =>
  Effect.flatMap(Effect.getFiberRefs, (refs) =>
    Effect.suspend(() => {
      const out = callbackRefs.run(refs, f)
      if (Effect.isEffect(out)) return out as Effect.Effect<A, unknown>
      if (isThenable(out)) return Effect.tryPromise({ try: () => Promise.resolve(out), catch: (e) => e })
      return Effect.succeed(out)
    }))

/** Runs an effect needing an `LlmClient` as a continuation of the caller, as a Promise. */
export type CallerRunner = <A, E>(
  effect: Effect.Effect<A, E, LlmClient>,
  options?: { readonly signal?: AbortSignal | undefined }
) => Promise<A>

const runnerFor = (refs: FiberRefs.FiberRefs): CallerRunner | undefined =>
  Option.match(Context.getOption(FiberRefs.getOrDefault(refs, FiberRef.currentContext), LlmClient), {
    onNone: () => undefined,
    onSome: (client) => (effect, options) =>
      Effect.runPromise(Effect.zipRight(Effect.setFiberRefs(refs), Effect.provideService(effect, LlmClient, client)), options)
  })

/**
 * The runner of the Effect code this synchronous call comes from, when that code has an
 * `LlmClient`: the current fiber, else the batch callback this Promise code continues.
 */
export const callerRunner = (): CallerRunner | undefined => {
  const fiber = Option.getOrUndefined(Fiber.getCurrentFiber())
  const fromFiber = fiber === undefined ? undefined : runnerFor(fiber.getFiberRefs())
  if (fromFiber !== undefined) return fromFiber
  const refs = callbackRefs.getStore()
  return refs === undefined ? undefined : runnerFor(refs)
}
