/**
 * Starts a run, the one way the CLI, the RunManager and the facade do it: the run's services
 * built in the caller's scope, the run actor started inside a run span ("EvolutionRun") that is
 * the parent of every span the run opens (proposals, LLM calls, evaluations, database writes)
 * and ends when the run stops, with the summary as attributes; the run's metrics fed for as
 * long as the scope lives.
 */
import { Clock, Effect, Exit, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import * as RunMetrics from "../observability/RunMetrics.js"
import * as EvaluationDispatch from "./EvaluationDispatch.js"
import * as RunActor from "./RunActor.js"
import * as RunServices from "./RunServices.js"

export const spanName = "EvolutionRun"

const summaryAttributes = (summary: RunActor.RunSummary): Record<string, unknown> => ({
  "evolve.status": summary.status,
  "evolve.stop_reason": summary.stopReason,
  "evolve.evaluations": summary.evaluations,
  "evolve.scored": summary.scored,
  "evolve.best_score": summary.bestScore ?? undefined,
  "evolve.best_program_id": summary.bestProgramId ?? undefined,
  "gen_ai.usage.input_tokens": summary.inputTokens,
  "gen_ai.usage.output_tokens": summary.outputTokens,
  "evolve.usd": summary.usd
})

export interface StartRunOptions<E, R> {
  /** The run's proposer, LLM client and evaluator (RunServices.layer, or test doubles). */
  readonly services: Layer.Layer<RunServices.RunServices, E, R>
  /** How candidates get evaluated (default: in this process, `EvaluationDispatch.local`). */
  readonly dispatch?: Layer.Layer<EvaluationDispatch.EvaluationDispatch> | undefined
  /** Feed `RunMetrics` from the run's events (default true). */
  readonly metrics?: boolean | undefined
}

export const startRun = <E, R>(start: RunActor.StartOptions, options: StartRunOptions<E, R>) =>
  Effect.gen(function*() {
    const config = start.spec.config
    const span = yield* Effect.makeSpan(spanName, {
      kind: "internal",
      attributes: {
        "evolve.resumed": start._tag === "Resume",
        "evolve.max_evaluations": config.max_evaluations,
        "evolve.concurrency.proposals": config.concurrency.proposals,
        "evolve.concurrency.evaluations": config.concurrency.evaluations,
        "evolve.llm.provider": config.llm.provider,
        "gen_ai.request.model": config.llm.provider === "offline" ? "offline" : config.llm.model,
        ...(start._tag === "Resume" ? { "evolve.run_id": start.runId } : {})
      }
    })
    const end = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Effect.sync(() => {
          if (span.status._tag === "Started") span.end(now, exit)
        }))
    const handle = yield* Effect.gen(function*() {
      const services = RunServices.pick(yield* Layer.build(options.services))
      const dispatch = options.dispatch ?? EvaluationDispatch.local
      return yield* RunActor.start(start).pipe(Effect.provide(dispatch), Effect.provide(services))
    }).pipe(Effect.withParentSpan(span), Effect.onError((cause) => end(Exit.failCause(cause))))
    span.attribute("evolve.run_id", handle.runId)
    const finished = (exit: Exit.Exit<RunActor.RunSummary, DatabaseError>) =>
      Effect.suspend(() => {
        if (Exit.isSuccess(exit)) {
          for (const [key, value] of Object.entries(summaryAttributes(exit.value))) {
            if (value !== undefined) span.attribute(key, value)
          }
        }
        return end(exit)
      })
    // Registered after the run's own fibers, so it runs before they are interrupted: a run that
    // has reached its final status still gets its summary onto the span.
    yield* Effect.addFinalizer((exit) =>
      Effect.gen(function*() {
        if (span.status._tag !== "Started") return
        const { status } = yield* handle.stats
        if (status === "running" || status === "stopping") return yield* end(exit)
        yield* Effect.flatMap(Effect.exit(handle.await), finished)
      })
    )
    if (options.metrics ?? true) yield* RunMetrics.record(handle)
    yield* handle.await.pipe(Effect.exit, Effect.flatMap(finished), Effect.forkScoped)
    return handle
  })
