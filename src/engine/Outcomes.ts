/**
 * What the owner fiber does with a worker's result: store it, account it, tell the population
 * and the model bandit, publish the events, and return the run's next state. Only the owner
 * fiber calls these, one at a time. Events are built from values already of their types: the
 * `true` given to their constructors skips a Schema validation that was a measurable share of the
 * CPU spent per candidate.
 */
import { Clock, Effect } from "effect"
import type { CandidateStore } from "../db/CandidateStore.js"
import type { LlmCallStore } from "../db/LlmCallStore.js"
import type { SearchStore } from "../db/SearchStore.js"
import type { RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import type { RunConfig } from "../domain/RunConfig.js"
import {
  CandidateEvaluated,
  CandidateFailed,
  CandidateProposed,
  LlmCallDone,
  LlmCallFailed,
  NewBest,
  type RunEvent
} from "../domain/RunEvent.js"
import type { LlmClient } from "../llm/LlmClient.js"
import { encodeDescriptor } from "../population/Features.js"
import type { Population } from "../population/Population.js"
import type { ProposalOutcome } from "./Proposal.js"
import { programCode } from "./Resume.js"
import * as RunState from "./RunState.js"

export interface OutcomeContext {
  readonly runId: RunId
  readonly config: RunConfig
  readonly candidates: CandidateStore["Type"]
  readonly search: SearchStore["Type"]
  readonly llmCalls: LlmCallStore["Type"]
  readonly llm: LlmClient["Type"]
  readonly population: Population
  readonly publish: (event: RunEvent) => Effect.Effect<unknown>
}

const duplicate = { kind: "duplicate" as const, message: "identical to a program already in this run" }

/** A proposal's result: a pending candidate in the queue, or a failed/rejected one on record. */
export const proposed = (ctx: OutcomeContext, state: RunState.RunState, outcome: ProposalOutcome, reservedUsd: number) =>
  Effect.gen(function*() {
    if (outcome._tag === "Abandoned") return RunState.proposalAbandoned(state, reservedUsd)
    const { runId } = ctx
    const at = outcome.program.createdAt
    const { llmCall } = outcome
    let next = outcome.program.llm !== null ? RunState.llmUsed(state, llmCall) : state
    if (outcome.judgeCall !== null) {
      next = RunState.llmUsed(next, outcome.judgeCall)
      yield* ctx.llmCalls.recordLlmCall(outcome.judgeCall)
    }
    const llmFailed = llmCall.outcome === "error"
    // Published with the candidate's own event, after it is stored: both go to the database in one batch.
    const llmDone = outcome.program.llm !== null && !llmFailed ? ctx.publish(new LlmCallDone({ runId, at, ...outcome.program.llm }, true)) : Effect.void
    // The owner decides duplicates finally: two proposals may have written the same code.
    if (outcome._tag === "Candidate" && !RunState.isDuplicate(next, outcome.program.codeHash)) {
      const candidate = outcome.program
      yield* ctx.candidates.insertProgram(candidate, llmCall, outcome.transcripts)
      yield* llmDone
      yield* ctx.publish(new CandidateProposed({ runId, at, programId: candidate.id, parentId: candidate.parentId, model: llmCall.model }, true))
      return RunState.candidateQueued(next, candidate, reservedUsd)
    }
    const failure = outcome._tag === "Failed" ? outcome.failure : duplicate
    yield* ctx.llm.recordOutcome(llmCall.model, 0, llmCall.usd)
    if (llmFailed) {
      yield* ctx.publish(new LlmCallFailed({ runId, at, model: llmCall.model, reason: llmCall.errorKind ?? "", message: failure.message }, true))
    }
    const program: Program = outcome._tag === "Failed" ? outcome.program : { ...outcome.program, status: "rejected", failure }
    yield* ctx.candidates.insertProgram(program, llmCall, outcome.transcripts)
    yield* llmDone
    yield* ctx.publish(new CandidateFailed({ runId, at, programId: program.id, stage: "propose", kind: failure.kind, message: failure.message }, true))
    return RunState.proposalFailed(next, failure, reservedUsd)
  })

/**
 * An evaluation's result, committed once (here, or already by the worker that evaluated it):
 * counters and stop rules, the population, the bandit, migration.
 */
export const evaluated = (
  ctx: OutcomeContext,
  state: RunState.RunState,
  program: Program,
  outcome: EvaluationOutcome,
  committed: boolean
) =>
  Effect.gen(function*() {
    const { population, runId } = ctx
    const at = yield* Clock.currentTimeMillis
    if (!committed && !(yield* ctx.candidates.commitEvaluation(program.id, outcome, at))) return RunState.evaluationDropped(state)
    const parentScore = program.parentId === null ? undefined : population.scoreOf(program.parentId)
    if (program.llm !== null) {
      const improvement = outcome._tag === "Scored" && parentScore !== undefined ? outcome.score - parentScore : 0
      yield* ctx.llm.recordOutcome(program.llm.model, improvement, program.llm.usd)
    }
    const next = RunState.evaluationCommitted(state, program, outcome)
    if (outcome._tag === "Scored") {
      const entry = { id: program.id, score: outcome.score, island: program.island, generation: program.generation }
      const descriptor = population.needsDescriptors ? population.describe(program.island, program.code, outcome.metrics) : undefined
      if (descriptor !== undefined) yield* ctx.search.recordDescriptor(program.id, encodeDescriptor(descriptor))
      population.add(descriptor === undefined ? entry : { ...entry, descriptor }, program.code)
      yield* ctx.publish(
        new CandidateEvaluated({ runId, at, programId: program.id, score: outcome.score, metrics: outcome.metrics, evalMs: outcome.durationMs }, true)
      )
      const best = RunState.newBest(state, next)
      if (best !== undefined) {
        yield* ctx.publish(new NewBest({ runId, at, programId: best.id, score: best.score, previous: state.best?.score ?? null }, true))
      }
    } else {
      population.addFailure({ id: program.id, island: program.island, generation: program.generation, kind: outcome.failure.kind })
      yield* ctx.publish(
        new CandidateFailed({ runId, at, programId: program.id, stage: "evaluate", kind: outcome.failure.kind, message: outcome.failure.message }, true)
      )
    }
    const interval = ctx.config.population.migration_interval
    if (population.islandCount > 1 && interval > 0 && next.evaluations % interval === 0) {
      const moved = population.migrate()
      if (moved.length > 0) {
        yield* ctx.search.recordMigrants(runId, moved.map((m) => ({ programId: m.id, island: m.to, origin: m.from })), at)
        yield* population.loadReferenceCode(programCode(ctx.candidates))
      }
    }
    return next
  })
