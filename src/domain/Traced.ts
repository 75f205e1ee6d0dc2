/**
 * `Effect.fn(name)` whose span exists only while tracing is on. Effect.fn captures a stack trace
 * and runs a span's acquire/release steps at every call even when the tracer is disabled (the
 * CLI's default when nothing exports spans): on the candidate path that was a few percent of
 * evolve's CPU for spans nobody reads. With tracing on, it is exactly Effect.fn.
 */
import { Effect, FiberRef, type Tracer } from "effect"

/** `traced()` when tracing is on, else `untraced()`. */
export const whenTracing = <A, E, R>(traced: () => Effect.Effect<A, E, R>, untraced: () => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => fiber.getFiberRef(FiberRef.currentTracerEnabled) ? traced() : untraced())

type AnyFunction = (this: unknown, ...args: Array<unknown>) => Effect.Effect<unknown, unknown, unknown>
type Build = (body: unknown, ...pipeables: Array<unknown>) => AnyFunction

export const fn = (name: string, options?: Tracer.SpanOptions): Effect.fn.Gen & Effect.fn.NonGen =>
  ((body: unknown, ...pipeables: Array<unknown>) => {
    const traced = (Effect.fn(name, options) as unknown as Build)(body, ...pipeables)
    const untraced = (Effect.fnUntraced as unknown as Build)(body, ...pipeables)
    return function(this: unknown, ...args: Array<unknown>) {
      return whenTracing(() => traced.apply(this, args), () => untraced.apply(this, args))
    }
  }) as unknown as Effect.fn.Gen & Effect.fn.NonGen

/** `Effect.withSpan`, when tracing is on; else the effect as it is. */
export const withSpan = (name: string, options?: Tracer.SpanOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  whenTracing(() => Effect.withSpan(effect, name, options), () => effect)

/** `Effect.annotateSpans`, when tracing is on; else the effect as it is. */
export const annotateSpans = (values: Record<string, unknown>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  whenTracing(() => Effect.annotateSpans(effect, values), () => effect)

/** `Effect.annotateCurrentSpan`, when tracing is on: without a span, Effect builds an error (a stack trace) to find that out. */
export const annotateCurrentSpan = (values: Record<string, unknown>): Effect.Effect<void> =>
  whenTracing(() => Effect.annotateCurrentSpan(values), () => Effect.void)
