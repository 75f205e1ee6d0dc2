/**
 * What a run session starts from. A new run: an empty population and its initial program to
 * store. A resumed run: its population, search state, counters, usage and pending candidates
 * reloaded from the database, the model bandit rebuilt, and the candidates that took evolve
 * down too often set aside to be failed instead of re-queued.
 */
import { Effect } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import type { StoredRun } from "../db/Records.js"
import { SearchStore } from "../db/SearchStore.js"
import { SteeringStore } from "../db/SteeringStore.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { Failure, Program } from "../domain/Program.js"
import type { RunConfig } from "../domain/RunConfig.js"
import { emptySteering, replay, type SteeringView } from "../domain/Steering.js"
import { LlmClient } from "../llm/LlmClient.js"
import { decodeDescriptor } from "../population/Features.js"
import { optionsFromConfig, Population } from "../population/Population.js"
import * as RunState from "./RunState.js"

/** Evaluation starts after which a candidate still pending on resume is failed, not re-queued (issue 9). */
export const MAX_EVALUATION_STARTS = 3
/** Failed evaluations a resumed run reloads for the population's fix mode. */
const FIX_MODE_FAILURES = 16

export interface Loaded {
  readonly population: Population
  /** What the database kept of the run; undefined for a new run. */
  readonly stored: StoredRun | undefined
  readonly recentFailures: ReadonlyArray<Failure>
  readonly sinceBest: number
  /** Pending candidates to evaluate again, oldest first. */
  readonly requeue: ReadonlyArray<Program>
  /** Pending candidates whose evaluation was cut off MAX_EVALUATION_STARTS times: failed, not retried. */
  readonly exhausted: ReadonlyArray<{ readonly program: Program; readonly starts: number }>
  readonly initialProgramId: ProgramId | null
  /** The steering actions the run accepted, folded (guidance, pins, bans, model weights). */
  readonly steering: SteeringView
}

/** The code of a program, or "" when it is gone (reference code for MAP-Elites features). */
export const programCode = (candidates: CandidateStore["Type"]) => (id: string) =>
  candidates.getProgram(id).pipe(Effect.map((p) => p.code), Effect.catchTag("ProgramNotFound", () => Effect.succeed("")))

/** Loads a run for a new session (`resumed` false: a run just created, nothing to load). */
export const load = (runId: RunId, config: RunConfig, resumed: boolean) =>
  Effect.gen(function*() {
    const searchOptions = optionsFromConfig(config.population)
    if (!resumed) {
      return {
        population: new Population([], searchOptions, { migrants: [], failures: [] }),
        stored: undefined,
        recentFailures: [],
        sinceBest: 0,
        requeue: [],
        exhausted: [],
        initialProgramId: null,
        steering: emptySteering
      } satisfies Loaded
    }
    const search = yield* SearchStore
    const candidates = yield* CandidateStore
    const stored = yield* search.loadRun(runId)
    const needsDescriptors = searchOptions.features.length > 0 || searchOptions.objectives.length > 0
    const searchState = yield* search.loadSearchState(runId, { descriptors: needsDescriptors, failures: FIX_MODE_FAILURES })
    const population = new Population(
      searchState.descriptors.size === 0 ? stored.population : stored.population.map((e) => {
        const d = searchState.descriptors.get(e.id)
        return d === undefined ? e : { ...e, descriptor: decodeDescriptor(d) }
      }),
      searchOptions,
      { migrants: searchState.migrants, failures: searchState.failedEvaluations }
    )
    yield* population.loadReferenceCode(programCode(candidates))
    const recent = yield* candidates.recentFailures(runId, RunState.RECENT_FAILURES)
    // Rebuild the model bandit's state from the run's history.
    const llm = yield* LlmClient
    const llmCalls = yield* LlmCallStore
    for (const o of yield* llmCalls.llmOutcomes(runId, (id) => population.scoreOf(id))) {
      yield* llm.recordOutcome(o.model, o.improvement, o.usd)
    }
    // Steering outlives the session: guidance, pins and bans come back with the state; model
    // weights are told to the new LLM client again.
    const steering = replay(yield* (yield* SteeringStore).list(runId))
    for (const [model, weight] of Object.entries(steering.modelWeights)) yield* llm.setWeight(model, weight)
    const starts = (p: Program) => stored.evaluationStarts.get(p.id) ?? 0
    return {
      population,
      stored,
      recentFailures: recent.flatMap((p) => (p.failure ? [p.failure] : [])).reverse(),
      sinceBest: searchState.evaluationsSinceBest,
      requeue: stored.pending.filter((p) => starts(p) < MAX_EVALUATION_STARTS),
      exhausted: stored.pending.filter((p) => starts(p) >= MAX_EVALUATION_STARTS).map((program) => ({ program, starts: starts(program) })),
      initialProgramId: stored.initialProgramId,
      steering
    } satisfies Loaded
  })

/** The session's first state: counters, usage, best program and code hashes as the run left them. */
export const initialState = (runId: RunId, startedAt: number, config: RunConfig, loaded: Loaded, firstCallUsd: number) => {
  const stored = loaded.stored
  return RunState.initial({
    runId,
    startedAt,
    limits: RunState.limitsFromConfig(config),
    evaluations: stored?.evaluations ?? 0,
    scored: stored?.population.length ?? 0,
    pending: stored?.pending.length ?? 0,
    failuresByKind: stored?.failuresByKind ?? {},
    recentFailures: loaded.recentFailures,
    best: loaded.population.best,
    sinceBest: loaded.sinceBest,
    inputTokens: stored?.inputTokens ?? 0,
    outputTokens: stored?.outputTokens ?? 0,
    usd: stored?.usd ?? 0,
    firstCallUsd,
    hashes: stored?.codeHashes ?? [],
    steering: loaded.steering
  })
}
