import {
  Clock,
  Deferred,
  Effect,
  FiberSet,
  Option,
  PubSub,
  Queue,
  Random,
  type Scope
} from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import type { PopulationEntry, SearchState, StoredRun } from "../db/Records.js"
import { RunStore } from "../db/RunStore.js"
import { SearchStore } from "../db/SearchStore.js"
import type { DatabaseError } from "../domain/Errors.js"
import { makeProgramId, makeRunId, type ProgramId, type RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, FailureKind, Program } from "../domain/Program.js"
import type { MetricTarget, RunSpec } from "../domain/RunConfig.js"
import {
  CandidateEvaluated,
  CandidateFailed,
  CandidateProposed,
  LlmCallDone,
  LlmCallFailed,
  LlmCallRetried,
  NewBest,
  type RunEvent,
  RunStarted,
  type RunStatus,
  RunStatusChanged
} from "../domain/RunEvent.js"
import { Evaluator } from "../evaluate/Evaluator.js"
import { LlmClient, type LlmReply, type LlmRetryInfo } from "../llm/LlmClient.js"
import { type Descriptor, decodeDescriptor, encodeDescriptor } from "../population/Features.js"
import { makeParentPicker } from "../population/ParentPicker.js"
import { optionsFromConfig, Population } from "../population/Population.js"
import { codeHash } from "../propose/Edits.js"
import type { Neighbour } from "../propose/Novelty.js"
import { Proposer, settingsFromConfig } from "../propose/Proposer.js"
import * as RunLease from "./RunLease.js"
import * as RunLimits from "./RunLimits.js"

export type StopReason =
  | "max_evaluations"
  | "target_score"
  | "wall_clock"
  | "interrupted"
  | "proposal_failures"
  | "database_error"
  | "patience"
  | "target_metrics"
  | "budget_usd"
  | "lease_lost"

const statusFor: Record<StopReason, RunStatus> = {
  max_evaluations: "completed",
  target_score: "completed",
  patience: "completed",
  target_metrics: "completed",
  budget_usd: "completed",
  wall_clock: "completed",
  interrupted: "interrupted",
  proposal_failures: "failed",
  database_error: "failed",
  // Another process took the run over (this one was presumed dead): the run goes on there.
  lease_lost: "interrupted"
}

export interface RunStats {
  readonly runId: RunId
  readonly status: RunStatus
  readonly elapsedMs: number
  /** Evaluations finished, including those of earlier sessions of this run. */
  readonly evaluations: number
  readonly maxEvaluations: number
  readonly scored: number
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly bestScore: number | null
  readonly bestProgramId: ProgramId | null
  /** LLM calls and evaluations running now; work waiting for a shared (RunManager) permit is not counted. */
  readonly inFlightProposals: number
  readonly inFlightEvaluations: number
  readonly queued: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly usd: number
}

export interface RunSummary extends RunStats {
  readonly stopReason: StopReason
  readonly message: string | null
}

export interface RunHandle {
  readonly runId: RunId
  /** Live events from now on (subscribe before the events you care about happen). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<RunEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<RunStats>
  /** Graceful stop: no new proposals; in-flight evaluations get the grace period; the run stays resumable. */
  readonly stop: (reason?: StopReason) => Effect.Effect<void>
  /** Completes when the run has stopped. */
  readonly await: Effect.Effect<RunSummary, DatabaseError>
}

export type StartOptions =
  | { readonly _tag: "New"; readonly spec: RunSpec; readonly initialCode: string }
  | {
    readonly _tag: "Resume"
    readonly runId: RunId
    readonly spec: RunSpec
    /** The initial program, for a run killed after its creation but before that program was stored. */
    readonly initialCode?: string | undefined
  }

const extensionOf = (path: string) => {
  const m = /\.[A-Za-z0-9]+$/.exec(path)
  return m ? m[0] : ""
}

const RECENT_FAILURES = 5
/** Evaluation starts after which a candidate still pending on resume is failed, not re-queued (issue 9). */
export const MAX_EVALUATION_STARTS = 3
/** Failed evaluations a resumed run reloads for the population's fix mode. */
const FIX_MODE_FAILURES = 16

/** Whether `metrics` meets every per-metric target (a number means "at least"). */
export const meetsTargets = (metrics: Readonly<Record<string, number>>, targets: Readonly<Record<string, MetricTarget>>): boolean => {
  const entries = Object.entries(targets)
  return entries.length > 0 && entries.every(([name, target]) => {
    const v = metrics[name]
    if (typeof v !== "number" || !Number.isFinite(v)) return false
    if (typeof target === "number") return v >= target
    return (target.at_least === undefined || v >= target.at_least) && (target.at_most === undefined || v <= target.at_most)
  })
}

const describeTargets = (targets: Readonly<Record<string, MetricTarget>>) =>
  Object.entries(targets).map(([name, t]) =>
    typeof t === "number"
      ? `${name} ≥ ${t}`
      : [t.at_least !== undefined ? `${name} ≥ ${t.at_least}` : "", t.at_most !== undefined ? `${name} ≤ ${t.at_most}` : ""]
        .filter((x) => x !== "").join(", ")
  ).join(", ")

/** A new candidate, not yet evaluated. */
const pendingProgram = (
  fields: Pick<Program, "id" | "runId" | "parentId" | "island" | "generation" | "code" | "createdAt" | "llm">
): Program => ({
  ...fields,
  codeHash: fields.code === "" ? "" : codeHash(fields.code),
  patch: null,
  status: "pending",
  metrics: null,
  score: null,
  failure: null,
  feedback: null,
  evaluatedAt: null,
  evalMs: null
})

/**
 * Starts an evolution run in the current scope: P proposal fibers feed a bounded queue that
 * W evaluation fibers drain; every candidate is stored before evaluation and committed after.
 * All state lives in this closure and is mutated only between effects, so fibers interleave safely.
 */
export const start = (options: StartOptions) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const search = yield* SearchStore
    const llmCalls = yield* LlmCallStore
    const proposer = yield* Proposer
    const evaluator = yield* Evaluator
    // Optional: estimates for the budget stop and outcomes for a model bandit.
    const llmClient = Option.getOrUndefined(yield* Effect.serviceOption(LlmClient))
    const shared = yield* RunLimits.permits // global LLM/evaluation permits when a RunManager hosts this run
    const spec = options.spec
    const config = spec.config
    const extension = extensionOf(spec.programPath)
    const startedAt = yield* Clock.currentTimeMillis

    let runId: RunId
    let loaded: StoredRun | undefined
    if (options._tag === "Resume") {
      runId = options.runId
    } else {
      runId = yield* makeRunId
      yield* runs.createRun(runId, spec, startedAt)
    }
    // One process drives a run at a time (RunBusy otherwise); released when the run has finished.
    const lease = yield* RunLease.acquire(runId)
    yield* Effect.addFinalizer(() => Effect.ignore(lease.release))
    if (options._tag === "Resume") loaded = yield* search.loadRun(runId)
    yield* runs.setRunStatus(runId, "running", null, startedAt)

    const events = yield* PubSub.unbounded<RunEvent>()
    const capacity = config.concurrency.queue ?? config.concurrency.evaluations
    const queue = yield* Queue.bounded<Program>(capacity)
    const searchOptions = optionsFromConfig(config.population)
    const needsDescriptors = searchOptions.features.length > 0 || searchOptions.objectives.length > 0
    const searchState: SearchState | undefined = loaded
      ? yield* search.loadSearchState(runId, { descriptors: needsDescriptors, failures: FIX_MODE_FAILURES })
      : undefined
    const population = new Population(
      searchState === undefined || searchState.descriptors.size === 0
        ? loaded?.population ?? []
        : loaded!.population.map((e) => {
          const d = searchState.descriptors.get(e.id)
          return d === undefined ? e : { ...e, descriptor: decodeDescriptor(d) }
        }),
      searchOptions,
      { migrants: searchState?.migrants ?? [], failures: searchState?.failedEvaluations ?? [] }
    )
    const programCode = (id: string) =>
      candidates.getProgram(id).pipe(Effect.map((p) => p.code), Effect.catchTag("ProgramNotFound", () => Effect.succeed("")))
    yield* population.loadReferenceCode(programCode)
    const settings = settingsFromConfig(config)
    const novelty = config.search.novelty
    const noveltyEnabled = novelty !== undefined && novelty.embedding_threshold !== undefined && proposer.checkNovelty !== undefined
    // Program ids draw their random suffix from a stream of their own (unique per run), so the
    // search's random choices depend only on the seed.
    const idRandom = Random.make(`${runId}:ids`)
    const newProgramId = makeProgramId.pipe(Effect.withRandom(idRandom))
    const hashes = new Set(loaded?.codeHashes ?? [])
    const recentFailures: Array<{ kind: string; message: string }> = loaded
      ? (yield* candidates.recentFailures(runId, RECENT_FAILURES)).flatMap((p) => p.failure ? [p.failure] : []).reverse()
      : []
    const max = config.max_evaluations
    const state = {
      status: "running" as RunStatus,
      evaluations: loaded?.evaluations ?? 0,
      scored: loaded?.population.length ?? 0,
      claimed: (loaded?.evaluations ?? 0) + (loaded?.pending.length ?? 0),
      failuresByKind: { ...loaded?.failuresByKind } as Record<string, number>,
      best: population.best as PopulationEntry | undefined,
      /** Proposals claimed and not finished, waiting for a shared permit included (for `budget_usd`). */
      proposalsUnderway: 0,
      /** LLM calls and evaluations running now (holding their permits), for stats. */
      inFlightProposals: 0,
      inFlightEvaluations: 0,
      consecutiveProposalFailures: 0,
      /** Evaluations since the best score last improved (the patience counter). */
      sinceBest: searchState?.evaluationsSinceBest ?? 0,
      inputTokens: loaded?.inputTokens ?? 0,
      outputTokens: loaded?.outputTokens ?? 0,
      usd: loaded?.usd ?? 0,
      llmCalls: 0,
      /** Estimated USD of the LLM calls in flight (for `budget_usd`). */
      inFlightUsd: 0,
      stopping: false
    }
    /** Model, parent score and cost of each candidate waiting for its evaluation (bandit feedback). */
    const origins = new Map<ProgramId, { model: string; parentScore: number | null; usd: number }>()
    const recordOutcome = (model: string, improvement: number, usd: number) =>
      llmClient === undefined || model === "" ? Effect.void : llmClient.recordOutcome(model, improvement, usd)
    if (loaded !== undefined && llmClient !== undefined) {
      // Rebuild the model bandit's state from the run's history.
      for (const o of yield* llmCalls.llmOutcomes(runId, (id) => population.scoreOf(id))) {
        yield* llmClient.recordOutcome(o.model, o.improvement, o.usd)
      }
    }
    const sessionStart = state.evaluations
    let proposalNumber = 0
    const stopSignal = yield* Deferred.make<{ reason: StopReason; message: string | null }>()
    const done = yield* Deferred.make<RunSummary, DatabaseError>()

    const now = Clock.currentTimeMillis
    const publish = (event: RunEvent) => PubSub.publish(events, event)
    const requestStop = (reason: StopReason, message: string | null = null) =>
      Deferred.succeed(stopSignal, { reason, message }).pipe(Effect.asVoid)

    const stats: Effect.Effect<RunStats> = Effect.map(now, (at) => ({
      runId,
      status: state.status,
      elapsedMs: at - startedAt,
      evaluations: state.evaluations,
      maxEvaluations: max,
      scored: state.scored,
      failuresByKind: { ...state.failuresByKind },
      bestScore: state.best?.score ?? null,
      bestProgramId: state.best?.id ?? null,
      inFlightProposals: state.inFlightProposals,
      inFlightEvaluations: state.inFlightEvaluations,
      // Candidates waiting in the queue (its size also counts blocked offers). Queue.size would
      // interrupt once the queue is shut down at stop time.
      queued: Math.min(capacity, Math.max(0, Option.getOrElse(queue.unsafeSize(), () => 0))),
      inputTokens: state.inputTokens,
      outputTokens: state.outputTokens,
      usd: state.usd
    }))

    const countFailure = (kind: FailureKind, message: string) => {
      state.failuresByKind[kind] = (state.failuresByKind[kind] ?? 0) + 1
      recentFailures.push({ kind, message })
      if (recentFailures.length > RECENT_FAILURES) recentFailures.shift()
    }

    const accountLlm = (reply: LlmReply) => {
      state.llmCalls++
      state.inputTokens += reply.inputTokens
      state.outputTokens += reply.outputTokens
      state.usd += reply.usd
    }

    // ---- evaluation ---------------------------------------------------------------------

    const commit = (program: Program, outcome: EvaluationOutcome) =>
      Effect.gen(function*() {
        const at = yield* now
        const committed = yield* candidates.commitEvaluation(program.id, outcome, at)
        if (!committed) return
        state.evaluations++
        const origin = origins.get(program.id)
        if (origin !== undefined) {
          origins.delete(program.id)
          const improvement = outcome._tag === "Scored" && origin.parentScore !== null ? outcome.score - origin.parentScore : 0
          yield* recordOutcome(origin.model, improvement, origin.usd)
        }
        if (outcome._tag === "Scored") {
          state.scored++
          const entry = { id: program.id, score: outcome.score, island: program.island, generation: program.generation }
          let descriptor: Descriptor | undefined
          if (needsDescriptors) {
            descriptor = population.describe(program.island, program.code, outcome.metrics)
            yield* search.recordDescriptor(program.id, encodeDescriptor(descriptor))
          }
          population.add(descriptor === undefined ? entry : { ...entry, descriptor }, program.code)
          yield* publish(
            new CandidateEvaluated({
              runId,
              at,
              programId: program.id,
              score: outcome.score,
              metrics: outcome.metrics,
              evalMs: outcome.durationMs
            })
          )
          if (state.best === undefined || outcome.score > state.best.score) {
            const previous = state.best?.score ?? null
            state.best = entry
            state.sinceBest = 0
            yield* publish(new NewBest({ runId, at, programId: program.id, score: outcome.score, previous }))
          }
          if (config.target_score !== undefined && outcome.score >= config.target_score) {
            yield* requestStop("target_score", `score ${outcome.score} reached the target ${config.target_score}`)
          }
          if (config.target_metrics !== undefined && meetsTargets(outcome.metrics, config.target_metrics)) {
            yield* requestStop("target_metrics", `program ${program.id} met every metric target (${describeTargets(config.target_metrics)})`)
          }
        } else {
          countFailure(outcome.failure.kind, outcome.failure.message)
          population.addFailure({ id: program.id, island: program.island, generation: program.generation, kind: outcome.failure.kind })
          yield* publish(
            new CandidateFailed({
              runId,
              at,
              programId: program.id,
              stage: "evaluate",
              kind: outcome.failure.kind,
              message: outcome.failure.message
            })
          )
        }
        if (state.best?.id !== program.id) state.sinceBest++
        if (config.patience !== undefined && state.sinceBest >= config.patience) {
          yield* requestStop("patience", `no improvement of the best score in ${state.sinceBest} evaluations`)
        }
        const interval = config.population.migration_interval
        if (population.islandCount > 1 && interval > 0 && state.evaluations % interval === 0) {
          const moved = population.migrate()
          if (moved.length > 0) {
            yield* search.recordMigrants(runId, moved.map((m) => ({ programId: m.id, island: m.to, origin: m.from })), at)
            yield* population.loadReferenceCode(programCode)
          }
        }
        if (state.evaluations >= max) yield* requestStop("max_evaluations")
      })

    /** Counts `effect` in a stats counter while it runs (inside its shared permit, not while waiting for it). */
    const inFlight = (counter: "inFlightProposals" | "inFlightEvaluations") => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => void state[counter]++),
        () => effect,
        () => Effect.sync(() => void state[counter]--)
      )

    const evaluateOne = (program: Program) =>
      Effect.gen(function*() {
        const outcome = yield* shared.evaluation(
          Effect.zipRight(
            // Counted before the evaluator starts, so that a candidate that kills evolve is seen on resume.
            candidates.startEvaluation(program.id),
            evaluator.evaluate({ programId: program.id, code: program.code, extension })
          ).pipe(inFlight("inFlightEvaluations"))
        )
        yield* commit(program, outcome)
      })

    const evaluationLoop = Effect.forever(Effect.flatMap(Queue.take(queue), evaluateOne))

    // ---- proposals ----------------------------------------------------------------------

    const initialProgramId = loaded?.initialProgramId ?? null
    /** The initial program, once known (a new run learns it when it evaluates it). */
    let rootId = initialProgramId

    // Parent and inspirations: one query for the rows not cached (see ParentPicker).
    const picker = makeParentPicker(population, candidates, { rootId: () => rootId })
    const pickParent = picker.pick.pipe(Effect.catchTag("ProgramNotFound", Effect.die))

    /** Programs of the child's island a candidate is compared with by the novelty check. */
    const neighboursOf = (picked: { parent: Program; inspirations: ReadonlyArray<Program>; island: number }, limit: number) =>
      Effect.gen(function*() {
        const out: Array<Neighbour> = []
        const seen = new Set<string>()
        const push = (id: string, code: string) => {
          if (out.length >= limit || seen.has(id) || code === "") return
          seen.add(id)
          out.push({ id, code })
        }
        // A failed parent is no yardstick; the initial program still being evaluated is.
        if (picked.parent.score !== null || picked.parent.status === "pending") push(picked.parent.id, picked.parent.code)
        for (const p of picked.inspirations) push(p.id, p.code)
        const ids = population.islandTop(picked.island, limit).map((m) => m.id).filter((id) => !seen.has(id))
          .slice(0, Math.max(0, limit - out.length))
        const rows = yield* picker.read(ids).pipe(
          Effect.catchTag("ProgramNotFound", () => Effect.forEach(ids, (id) => Effect.map(programCode(id), (code) => ({ id, code }))))
        )
        for (const row of rows) push(row.id, row.code)
        return out
      })

    const recordProposalFailure = (
      program: Program,
      kind: FailureKind,
      message: string
    ) =>
      Effect.gen(function*() {
        state.claimed--
        state.consecutiveProposalFailures++
        countFailure(kind, message)
        yield* publish(
          new CandidateFailed({ runId, at: program.createdAt, programId: program.id, stage: "propose", kind, message })
        )
        if (state.consecutiveProposalFailures >= config.max_consecutive_proposal_failures) {
          yield* requestStop(
            "proposal_failures",
            `${state.consecutiveProposalFailures} proposals failed in a row; last: ${kind}: ${message}`
          )
        }
      })

    const proposeOne = Effect.gen(function*() {
      const picked = yield* pickParent
      if (picked === undefined) return yield* Effect.die(new Error("no parent: the initial program is missing"))
      const { parent, inspirations } = picked
      const id = yield* newProgramId
      const onRetry = (info: LlmRetryInfo) => Effect.flatMap(now, (at) => publish(new LlmCallRetried({ runId, at, ...info })))
      const result = yield* shared.llm(proposer.propose({
        parent,
        inspirations,
        recentFailures: [...recentFailures],
        mode: picked.mode,
        inspirationLabels: picked.labels,
        settings
      }, onRetry).pipe(inFlight("inFlightProposals")))
      const at = yield* now
      const llm = result.llm
      if (llm) accountLlm(llm)
      if (config.budget_usd !== undefined && state.usd >= config.budget_usd) {
        yield* requestStop("budget_usd", `LLM cost $${state.usd.toFixed(4)} reached the budget of $${config.budget_usd}`)
      }
      const base = pendingProgram({
        id,
        runId,
        parentId: parent.id,
        island: picked.island,
        generation: parent.generation + 1,
        code: "",
        createdAt: at,
        llm: llm
          ? {
            model: llm.model,
            inputTokens: llm.inputTokens,
            outputTokens: llm.outputTokens,
            usd: llm.usd,
            latencyMs: llm.latencyMs,
            attempts: llm.attempts
          }
          : null
      })
      const llmCall = {
        id: `${id}.llm`,
        runId,
        programId: id,
        model: llm?.model ?? "",
        inputTokens: llm?.inputTokens ?? 0,
        outputTokens: llm?.outputTokens ?? 0,
        usd: llm?.usd ?? 0,
        latencyMs: llm?.latencyMs ?? 0,
        attempts: llm?.attempts ?? (result._tag === "Failed" ? result.attempts : 1),
        outcome: result._tag === "Failed" && result.kind === "llm" ? "error" as const : "ok" as const,
        errorKind: result._tag === "Failed" && result.kind === "llm" ? result.message.split(":")[0]! : null,
        errorMessage: result._tag === "Failed" && result.kind === "llm" ? result.message : null,
        createdAt: at
      }
      const llmFailed = result._tag === "Failed" && result.kind === "llm"
      if (llm && !llmFailed) {
        yield* publish(
          new LlmCallDone({
            runId,
            at,
            model: llm.model,
            inputTokens: llm.inputTokens,
            outputTokens: llm.outputTokens,
            usd: llm.usd,
            latencyMs: llm.latencyMs,
            attempts: llm.attempts
          })
        )
      }
      if (result._tag === "Failed") {
        if (result.kind === "llm" && result.reason === "circuit_open") {
          // Every model's breaker is open: no call was made. Wait for the first to half-open.
          state.claimed--
          return yield* Effect.sleep(Math.min(Math.max(result.retryAfterMs ?? 1000, 100), 60_000))
        }
        yield* recordOutcome(llmCall.model, 0, llmCall.usd)
        if (result.kind === "llm") {
          yield* publish(new LlmCallFailed({ runId, at, model: llmCall.model, reason: llmCall.errorKind ?? "", message: result.message }))
        }
        const program: Program = {
          ...base,
          code: "",
          patch: result.response,
          status: "failed",
          failure: { kind: result.kind, message: result.message }
        }
        yield* candidates.insertProgram(program, llmCall)
        return yield* recordProposalFailure(program, result.kind, result.message)
      }
      const hash = codeHash(result.code)
      if (hashes.has(hash)) {
        const program: Program = {
          ...base,
          code: result.code,
          codeHash: hash,
          patch: result.patch,
          status: "rejected",
          failure: { kind: "duplicate", message: "identical to a program already in this run" }
        }
        yield* candidates.insertProgram(program, llmCall)
        yield* recordOutcome(llmCall.model, 0, llmCall.usd)
        return yield* recordProposalFailure(program, "duplicate", "identical to a program already in this run")
      }
      if (noveltyEnabled) {
        const neighbours = yield* neighboursOf(picked, novelty.compare_with)
        const verdict = yield* proposer.checkNovelty!(result.code, neighbours, {
          embeddingThreshold: novelty.embedding_threshold,
          llmJudge: novelty.llm_judge
        })
        if (verdict.llm !== null) {
          accountLlm(verdict.llm)
          yield* llmCalls.recordLlmCall({
            id: `${id}.judge`,
            runId,
            programId: id,
            model: verdict.llm.model,
            inputTokens: verdict.llm.inputTokens,
            outputTokens: verdict.llm.outputTokens,
            usd: verdict.llm.usd,
            latencyMs: verdict.llm.latencyMs,
            attempts: verdict.llm.attempts,
            outcome: "ok",
            errorKind: null,
            errorMessage: null,
            createdAt: at
          })
        }
        if (!verdict.novel) {
          const program: Program = {
            ...base,
            code: result.code,
            codeHash: hash,
            patch: result.patch,
            status: "rejected",
            failure: { kind: "duplicate", message: verdict.reason }
          }
          yield* candidates.insertProgram(program, llmCall)
          yield* recordOutcome(llmCall.model, 0, llmCall.usd)
          return yield* recordProposalFailure(program, "duplicate", verdict.reason)
        }
      }
      hashes.add(hash)
      const program: Program = { ...base, code: result.code, codeHash: hash, patch: result.patch }
      yield* candidates.insertProgram(program, llmCall)
      origins.set(id, { model: llmCall.model, parentScore: parent.score, usd: llmCall.usd })
      state.consecutiveProposalFailures = 0
      yield* publish(new CandidateProposed({ runId, at, programId: id, parentId: parent.id, model: llmCall.model }))
      yield* Queue.offer(queue, program)
    })

    /** Expected USD of the next LLM call: the mean so far, else the client's estimate for the initial program. */
    const nextCallUsd = Effect.suspend(() =>
      state.llmCalls > 0
        ? Effect.succeed(state.usd / state.llmCalls)
        : llmClient === undefined
        ? Effect.succeed(0)
        : llmClient.estimateCostUsd({ system: "", user: options._tag === "New" ? options.initialCode : "" })
    )

    /** Holds a proposal back while committed plus in-flight cost leaves no room for it under `budget_usd`. */
    const withinBudget = (budget: number) =>
      Effect.gen(function*() {
        while (!state.stopping) {
          const next = yield* nextCallUsd
          if (state.usd + state.inFlightUsd + next <= budget) return next
          if (state.proposalsUnderway === 0) {
            yield* requestStop("budget_usd", `LLM cost $${state.usd.toFixed(4)} leaves no room for another call under the budget of $${budget}`)
            return undefined
          }
          yield* Effect.sleep(50)
        }
        return undefined
      })

    const proposalLoop = Effect.gen(function*() {
      while (!state.stopping && state.claimed < max) {
        // Never starve the event loop, even if a test double answers synchronously; other
        // fibers may claim in the meantime, so check again before claiming.
        yield* Effect.yieldNow()
        if (state.stopping || state.claimed >= max) return
        let reserved = 0
        if (config.budget_usd !== undefined) {
          const next = yield* withinBudget(config.budget_usd)
          if (next === undefined || state.stopping || state.claimed >= max) return
          reserved = next
        }
        // Each proposal draws from its own stream, seeded by the run's seed, the session's first
        // evaluation and the proposal's number, so its random choices do not depend on how
        // fibers interleave (failed proposals are retried under a new number).
        const random = Random.make(`${config.seed}:${sessionStart}:${proposalNumber++}`)
        state.claimed++
        state.proposalsUnderway++
        state.inFlightUsd += reserved
        yield* proposeOne.pipe(
          Effect.withRandom(random),
          Effect.ensuring(Effect.sync(() => {
            state.proposalsUnderway--
            state.inFlightUsd -= reserved
          }))
        )
      }
    })

    // ---- driver -------------------------------------------------------------------------

    /** Stores the initial program as pending; it is evaluated by the first free evaluation fiber. */
    const storeInitial = Effect.gen(function*() {
      const at = yield* now
      const id = yield* newProgramId
      const code = options.initialCode ?? ""
      const program = pendingProgram({ id, runId, parentId: null, island: 0, generation: 0, code, createdAt: at, llm: null })
      hashes.add(program.codeHash)
      yield* candidates.insertProgram(program)
      rootId = id
      state.claimed++
      return program
    })

    /**
     * A candidate still pending after MAX_EVALUATION_STARTS starts took evolve down with it (or
     * was cut off by a stop) each time: committed as failed instead of being re-queued forever.
     */
    const startsOf = (program: Program) => loaded?.evaluationStarts.get(program.id) ?? 0
    const exhausted = (program: Program) => startsOf(program) >= MAX_EVALUATION_STARTS
    const loadedPending = loaded?.pending ?? []
    const requeue = loadedPending.filter((program) => !exhausted(program))
    const retireExhausted = Effect.forEach(loadedPending.filter(exhausted), (program) =>
      commit(program, {
        _tag: "Failed",
        failure: {
          kind: "evaluator_error",
          message: `evaluation was interrupted ${startsOf(program)} times (evolve stopped or was killed during each); not retried`
        },
        feedback: null,
        durationMs: 0
      }), { discard: true })

    const drive = Effect.gen(function*() {
      yield* Effect.forkScoped(RunLease.keepAlive(
        lease,
        requestStop("lease_lost", `another process took run ${runId} over (this one missed its heartbeats)`)
      ))
      yield* publish(
        new RunStarted({
          runId,
          at: startedAt,
          resumed: options._tag === "Resume",
          evaluated: state.evaluations,
          requeued: requeue.length
        })
      )
      const workers = yield* FiberSet.make<void, DatabaseError>()
      const proposals = yield* FiberSet.make<void, DatabaseError>()
      // A defect (a bug, or a service that threw) ends the run instead of silently removing a
      // fiber, which could leave the run waiting forever for evaluations that never come.
      const failOnDbError = <A, R>(effect: Effect.Effect<A, DatabaseError, R>) =>
        effect.pipe(
          Effect.catchAll((e) => requestStop("database_error", e.message)),
          Effect.catchAllDefect((defect) =>
            requestStop("proposal_failures", `internal error: ${defect instanceof Error ? defect.message : String(defect)}`)
          )
        )

      yield* retireExhausted
      let pending = requeue
      let initialId = initialProgramId
      if (initialId === null && (options._tag === "New" || options.initialCode !== undefined)) {
        const initial = yield* storeInitial
        initialId = initial.id
        pending = [initial, ...pending]
      }
      // The initial program (when not evaluated yet) is first in `pending`, and the proposal
      // fibers start while it is evaluated rather than after: waiting would leave every LLM slot
      // idle for one evaluation (plus its spawn) at the start of each run. Until its result is
      // committed, ParentPicker sends it as the parent without metrics ("Not evaluated yet");
      // once it is scored it is the population's first member, and if it fails, the next
      // proposals are in fix mode with its error. Only the first P prompts can lack its metrics.
      // Only reached through a resume whose initial program was lost: nothing to breed from.
      const parentless = initialId === null && population.size === 0

      if (state.evaluations >= max) yield* requestStop("max_evaluations")
      else if (parentless) {
        // Nothing to breed from and nothing queued: waiting would be forever.
        yield* requestStop("proposal_failures", "nothing to evolve: the run's initial program was never stored (start a new run)")
      } else {
        for (let i = 0; i < config.concurrency.proposals; i++) {
          yield* FiberSet.run(proposals, failOnDbError(proposalLoop))
        }
      }
      // Evaluation fibers start after the proposal fibers, so that the first LLM requests are
      // sent before the first evaluator is spawned (a spawn blocks the event loop for a while).
      for (let i = 0; i < config.concurrency.evaluations; i++) {
        yield* FiberSet.run(workers, failOnDbError(evaluationLoop))
      }
      if (pending.length > 0) yield* FiberSet.run(workers, failOnDbError(Queue.offerAll(queue, pending)))
      if (config.max_wall_seconds !== undefined) {
        const limit = config.max_wall_seconds
        yield* FiberSet.run(
          proposals,
          Effect.sleep(limit * 1000).pipe(Effect.zipRight(requestStop("wall_clock", `wall-clock limit of ${limit} s reached`)))
        )
      }

      const stop = yield* Deferred.await(stopSignal)
      state.stopping = true
      state.status = "stopping"
      yield* publish(new RunStatusChanged({ runId, at: yield* now, status: "stopping", reason: stop.reason }))
      yield* FiberSet.clear(proposals)
      yield* Queue.shutdown(queue)
      const drained = yield* FiberSet.awaitEmpty(workers).pipe(
        Effect.timeoutOption(config.shutdown_grace_seconds * 1000)
      )
      if (Option.isNone(drained)) yield* FiberSet.clear(workers)
      return stop
    })

    const finish = (stop: { reason: StopReason; message: string | null }) =>
      Effect.gen(function*() {
        const status = statusFor[stop.reason]
        state.status = status
        const at = yield* now
        const record = runs.setRunStatus(runId, status, stop.message ?? stop.reason, at)
        // A run stopped by a database error can seldom record that: report the first error, not
        // this one ("update run status" hid "commit evaluation: database or disk is full").
        // A run taken over by another process: its status is that process's to write.
        if (stop.reason === "database_error") yield* Effect.ignore(record)
        else if (stop.reason !== "lease_lost") yield* record
        yield* publish(new RunStatusChanged({ runId, at, status, reason: stop.message ?? stop.reason }))
        const summary: RunSummary = { ...(yield* stats), stopReason: stop.reason, message: stop.message }
        return summary
      })

    const seeded = Effect.withRandom(Random.make(`${config.seed}:${state.evaluations}`))
    yield* Effect.scoped(drive).pipe(
      Effect.flatMap(finish),
      Effect.ensuring(Effect.ignore(lease.release)),
      seeded,
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(done, exit)),
      Effect.forkScoped
    )

    const handle: RunHandle = {
      runId,
      subscribe: PubSub.subscribe(events),
      stats,
      stop: (reason = "interrupted") => requestStop(reason),
      await: Deferred.await(done)
    }
    return handle
  })

