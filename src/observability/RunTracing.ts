/**
 * A run-level span around `EvolutionRun.start`: the span "EvolutionRun" opens before the run
 * starts, is the parent of every span the run's fibers open (proposals, LLM calls, evaluations,
 * database writes), and ends when the run stops, with the summary as attributes. The run's
 * metrics (`RunMetrics.record`) are fed for as long as the scope lives.
 */
import { Clock, Effect, Exit } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import * as EvolutionRun from "../engine/EvolutionRun.js"
import * as RunMetrics from "./RunMetrics.js"

export const spanName = "EvolutionRun"

const summaryAttributes = (summary: EvolutionRun.RunSummary): Record<string, unknown> => ({
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

export interface TracedStartOptions {
  /** Feed `RunMetrics` from the run's events (default true). */
  readonly metrics?: boolean | undefined
}

/** `EvolutionRun.start` inside a run span that ends when the run stops (or the scope closes). */
export const start = (options: EvolutionRun.StartOptions, traced: TracedStartOptions = {}) =>
  Effect.gen(function*() {
    const config = options.spec.config
    const span = yield* Effect.makeSpan(spanName, {
      kind: "internal",
      attributes: {
        "evolve.resumed": options._tag === "Resume",
        "evolve.max_evaluations": config.max_evaluations,
        "evolve.concurrency.proposals": config.concurrency.proposals,
        "evolve.concurrency.evaluations": config.concurrency.evaluations,
        "evolve.llm.provider": config.llm.provider,
        "gen_ai.request.model": config.llm.provider === "offline" ? "offline" : config.llm.model,
        ...(options._tag === "Resume" ? { "evolve.run_id": options.runId } : {})
      }
    })
    const end = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Effect.sync(() => {
          if (span.status._tag === "Started") span.end(now, exit)
        }))
    const handle = yield* EvolutionRun.start(options).pipe(
      Effect.withParentSpan(span),
      Effect.onError((cause) => end(Exit.failCause(cause)))
    )
    span.attribute("evolve.run_id", handle.runId)
    const finished = (exit: Exit.Exit<EvolutionRun.RunSummary, DatabaseError>) =>
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
    if (traced.metrics ?? true) yield* RunMetrics.record(handle)
    yield* handle.await.pipe(Effect.exit, Effect.flatMap(finished), Effect.forkScoped)
    return handle
  })
