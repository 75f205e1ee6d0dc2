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
import { type PopulationEntry, ProgramDatabase, type RunState } from "../db/ProgramDatabase.js"
import type { DatabaseError } from "../domain/Errors.js"
import { makeProgramId, makeRunId, type ProgramId, type RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, FailureKind, Program } from "../domain/Program.js"
import type { RunSpec } from "../domain/RunConfig.js"
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
import type { LlmReply, LlmRetryInfo } from "../llm/LlmClient.js"
import { Population } from "../population/Population.js"
import { codeHash } from "../propose/Edits.js"
import { Proposer } from "../propose/Proposer.js"

export type StopReason =
  | "max_evaluations"
  | "target_score"
  | "wall_clock"
  | "interrupted"
  | "proposal_failures"
  | "database_error"

const statusFor: Record<StopReason, RunStatus> = {
  max_evaluations: "completed",
  target_score: "completed",
  wall_clock: "completed",
  interrupted: "interrupted",
  proposal_failures: "failed",
  database_error: "failed"
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
  | { readonly _tag: "Resume"; readonly runId: RunId; readonly spec: RunSpec }

const extensionOf = (path: string) => {
  const m = /\.[A-Za-z0-9]+$/.exec(path)
  return m ? m[0] : ""
}

const RECENT_FAILURES = 5

/**
 * Starts an evolution run in the current scope: P proposal fibers feed a bounded queue that
 * W evaluation fibers drain; every candidate is stored before evaluation and committed after.
 * All state lives in this closure and is mutated only between effects, so fibers interleave safely.
 */
export const start = (options: StartOptions) =>
  Effect.gen(function*() {
    const db = yield* ProgramDatabase
    const proposer = yield* Proposer
    const evaluator = yield* Evaluator
    const spec = options.spec
    const config = spec.config
    const extension = extensionOf(spec.programPath)
    const startedAt = yield* Clock.currentTimeMillis

    let runId: RunId
    let loaded: RunState | undefined
    if (options._tag === "Resume") {
      runId = options.runId
      loaded = yield* db.loadRunState(runId)
    } else {
      runId = yield* makeRunId
      yield* db.createRun(runId, spec, startedAt)
    }
    yield* db.setRunStatus(runId, "running", null, startedAt)

    const events = yield* PubSub.unbounded<RunEvent>()
    const capacity = config.concurrency.queue ?? config.concurrency.evaluations
    const queue = yield* Queue.bounded<Program>(capacity)
    const population = new Population(loaded?.population ?? [])
    const hashes = new Set(loaded?.codeHashes ?? [])
    const recentFailures: Array<{ kind: string; message: string }> = loaded
      ? (yield* db.recentFailures(runId, RECENT_FAILURES)).flatMap((p) => p.failure ? [p.failure] : []).reverse()
      : []
    const max = config.max_evaluations
    const state = {
      status: "running" as RunStatus,
      evaluations: loaded?.evaluations ?? 0,
      scored: loaded?.population.length ?? 0,
      claimed: (loaded?.evaluations ?? 0) + (loaded?.pending.length ?? 0),
      failuresByKind: { ...loaded?.failuresByKind } as Record<string, number>,
      best: population.best as PopulationEntry | undefined,
      inFlightProposals: 0,
      inFlightEvaluations: 0,
      consecutiveProposalFailures: 0,
      inputTokens: loaded?.inputTokens ?? 0,
      outputTokens: loaded?.outputTokens ?? 0,
      usd: loaded?.usd ?? 0,
      stopping: false
    }
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
      state.inputTokens += reply.inputTokens
      state.outputTokens += reply.outputTokens
      state.usd += reply.usd
    }

    // ---- evaluation ---------------------------------------------------------------------

    const commit = (program: Program, outcome: EvaluationOutcome) =>
      Effect.gen(function*() {
        const at = yield* now
        const committed = yield* db.commitEvaluation(program.id, outcome, at)
        if (!committed) return
        state.evaluations++
        if (outcome._tag === "Scored") {
          state.scored++
          const entry = { id: program.id, score: outcome.score, island: program.island, generation: program.generation }
          population.add(entry)
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
            yield* publish(new NewBest({ runId, at, programId: program.id, score: outcome.score, previous }))
          }
          if (config.target_score !== undefined && outcome.score >= config.target_score) {
            yield* requestStop("target_score", `score ${outcome.score} reached the target ${config.target_score}`)
          }
        } else {
          countFailure(outcome.failure.kind, outcome.failure.message)
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
        if (state.evaluations >= max) yield* requestStop("max_evaluations")
      })

    const evaluateOne = (program: Program) =>
      Effect.gen(function*() {
        state.inFlightEvaluations++
        const outcome = yield* evaluator.evaluate({ programId: program.id, code: program.code, extension }).pipe(
          Effect.ensuring(Effect.sync(() => state.inFlightEvaluations--))
        )
        yield* commit(program, outcome)
      })

    const evaluationLoop = Effect.forever(Effect.flatMap(Queue.take(queue), evaluateOne))

    // ---- proposals ----------------------------------------------------------------------

    const initialProgramId = loaded?.initialProgramId ?? null

    const pickParent = Effect.gen(function*() {
      const sample = yield* population.sample
      if (sample === undefined) {
        // Nothing scored yet: "fix mode", breed from the initial program and its error.
        if (initialProgramId === null) return undefined
        return { parent: yield* db.getProgram(initialProgramId), inspirations: [] as Array<Program> }
      }
      const parent = yield* db.getProgram(sample.parent.id)
      const inspirations = yield* Effect.forEach(sample.inspirations, (e) => db.getProgram(e.id))
      return { parent, inspirations }
    }).pipe(Effect.catchTag("ProgramNotFound", Effect.die))

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
      const id = yield* makeProgramId
      const onRetry = (info: LlmRetryInfo) => Effect.flatMap(now, (at) => publish(new LlmCallRetried({ runId, at, ...info })))
      const result = yield* proposer.propose({ parent, inspirations, recentFailures: [...recentFailures] }, onRetry)
      const at = yield* now
      const llm = result.llm
      if (llm) accountLlm(llm)
      const base: Program = {
        id,
        runId,
        parentId: parent.id,
        island: parent.island,
        generation: parent.generation + 1,
        code: "",
        codeHash: "",
        patch: null,
        status: "pending",
        metrics: null,
        score: null,
        failure: null,
        feedback: null,
        createdAt: at,
        evaluatedAt: null,
        evalMs: null,
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
      }
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
      if (llm) {
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
        yield* db.insertProgram(program, llmCall)
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
        yield* db.insertProgram(program, llmCall)
        return yield* recordProposalFailure(program, "duplicate", "identical to a program already in this run")
      }
      hashes.add(hash)
      const program: Program = { ...base, code: result.code, codeHash: hash, patch: result.patch }
      yield* db.insertProgram(program, llmCall)
      state.consecutiveProposalFailures = 0
      yield* publish(new CandidateProposed({ runId, at, programId: id, parentId: parent.id, model: llmCall.model }))
      yield* Queue.offer(queue, program)
    })

    const proposalLoop = Effect.gen(function*() {
      while (!state.stopping && state.claimed < max) {
        state.claimed++
        state.inFlightProposals++
        yield* proposeOne.pipe(Effect.ensuring(Effect.sync(() => state.inFlightProposals--)))
      }
    })

    // ---- driver -------------------------------------------------------------------------

    const evaluateInitial = Effect.gen(function*() {
      const at = yield* now
      const id = yield* makeProgramId
      const code = options._tag === "New" ? options.initialCode : ""
      const program: Program = {
        id,
        runId,
        parentId: null,
        island: 0,
        generation: 0,
        code,
        codeHash: codeHash(code),
        patch: null,
        status: "pending",
        metrics: null,
        score: null,
        failure: null,
        feedback: null,
        createdAt: at,
        evaluatedAt: null,
        evalMs: null,
        llm: null
      }
      hashes.add(program.codeHash)
      yield* db.insertProgram(program)
      state.claimed++
      yield* evaluateOne(program)
      return id
    })

    const drive = Effect.gen(function*() {
      yield* publish(
        new RunStarted({
          runId,
          at: startedAt,
          resumed: options._tag === "Resume",
          evaluated: state.evaluations,
          requeued: loaded?.pending.length ?? 0
        })
      )
      const workers = yield* FiberSet.make<void, DatabaseError>()
      const proposals = yield* FiberSet.make<void, DatabaseError>()
      const failOnDbError = <A, R>(effect: Effect.Effect<A, DatabaseError, R>) =>
        Effect.catchAll(effect, (e) => requestStop("database_error", e.message))

      let pending = loaded?.pending ?? []
      let initialId = initialProgramId
      if (initialId === null && options._tag === "New") {
        initialId = yield* evaluateInitial
      } else if (initialId !== null && pending.some((p) => p.id === initialId)) {
        // The initial program itself was interrupted before its result was committed.
        const initial = pending.find((p) => p.id === initialId)!
        pending = pending.filter((p) => p.id !== initialId)
        yield* evaluateOne(initial)
      }
      // Only reached through a resume whose initial program was lost: nothing to breed from.
      const parentless = initialId === null && population.size === 0

      for (let i = 0; i < config.concurrency.evaluations; i++) {
        yield* FiberSet.run(workers, failOnDbError(evaluationLoop))
      }
      if (pending.length > 0) yield* FiberSet.run(workers, failOnDbError(Queue.offerAll(queue, pending)))
      if (state.evaluations >= max) yield* requestStop("max_evaluations")
      else if (!parentless) {
        for (let i = 0; i < config.concurrency.proposals; i++) {
          yield* FiberSet.run(proposals, failOnDbError(proposalLoop))
        }
      }
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
        yield* db.setRunStatus(runId, status, stop.message ?? stop.reason, at)
        yield* publish(new RunStatusChanged({ runId, at, status, reason: stop.message ?? stop.reason }))
        const summary: RunSummary = { ...(yield* stats), stopReason: stop.reason, message: stop.message }
        return summary
      })

    const seeded = Effect.withRandom(Random.make(`${config.seed}:${state.evaluations}`))
    yield* Effect.scoped(drive).pipe(
      Effect.flatMap(finish),
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

