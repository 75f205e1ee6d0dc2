/**
 * How a run gets its candidates evaluated. On one machine (`local`) an evaluation holds a permit
 * of the shared evaluation pool, is counted as started in the database, and runs the run's
 * Evaluator in this process; its result is committed by the run. In a cluster a dispatch hands
 * the candidate to the evaluation workers instead, and the result comes back committed already.
 */
import { Context, Effect, Layer } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import type { DatabaseError } from "../domain/Errors.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import { Evaluator } from "../evaluate/Evaluator.js"
import { RunLimits } from "./RunLimits.js"

export interface Dispatched {
  readonly outcome: EvaluationOutcome
  /** True when whoever evaluated it has already committed the result (a cluster worker). */
  readonly committed: boolean
}

export class EvaluationDispatch extends Context.Tag("evolve/EvaluationDispatch")<EvaluationDispatch, {
  /**
   * Evaluates `program` (its file extension tells evaluators what it is); `started` runs once
   * the evaluation holds its slot, for the run's in-flight figures.
   */
  readonly evaluate: (
    program: Program,
    extension: string,
    started: Effect.Effect<void>
  ) => Effect.Effect<Dispatched, DatabaseError>
}>() {}

/** In this process, under the shared evaluation pool. */
export const local: Layer.Layer<EvaluationDispatch, never, Evaluator | RunLimits | CandidateStore> = Layer.effect(
  EvaluationDispatch,
  Effect.gen(function*() {
    const evaluator = yield* Evaluator
    const limits = yield* RunLimits
    const candidates = yield* CandidateStore
    return EvaluationDispatch.of({
      evaluate: (program, extension, started) =>
        limits.evaluations.withPermit(Effect.gen(function*() {
          yield* started
          // Counted before the evaluator starts, so that a candidate that kills evolve is seen on resume.
          yield* candidates.startEvaluation(program.id)
          const outcome = yield* evaluator.evaluate({ programId: program.id, code: program.code, extension })
          return { outcome, committed: false }
        }))
    })
  })
)
