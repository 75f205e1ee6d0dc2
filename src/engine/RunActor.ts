/**
 * An evolution run as an actor (DESIGN §3). One owner fiber holds the run's state (RunState) and
 * reads one mailbox: the results its proposal and evaluation workers report, and the protocol's
 * messages (RunProtocol: Stop, Pause, Extend, SetConcurrency, GetStats). After each message it
 * applies a pure transition, writes what must be stored, publishes events, and starts as many
 * proposals (P, LLM-bound) and evaluations (W) as the state allows. Candidates are stored as
 * pending before they are evaluated and committed once after.
 */
import { Clock, Deferred, Effect, FiberRef, FiberSet, PubSub, Queue, Random, type Scope } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { isLostConnection, retryOnLostConnection } from "../db/LostConnection.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import { RunStore } from "../db/RunStore.js"
import { SearchStore } from "../db/SearchStore.js"
import { SteeringStore } from "../db/SteeringStore.js"
import { DatabaseError } from "../domain/Errors.js"
import type { RunHandle, RunSummary, StartOptions } from "./RunHandle.js"
import { makeProgramId, makeRunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import { type RunEvent, RunStarted, RunStatusChanged } from "../domain/RunEvent.js"
import { guidanceText } from "../domain/Steering.js"
import * as HumanDesk from "../llm/HumanDesk.js"
import { LlmClient, noRecording } from "../llm/LlmClient.js"
import type { RecordedSteering } from "../llm/Replay.js"
import { makeParentPicker } from "../population/ParentPicker.js"
import { Proposer, settingsFromConfig } from "../propose/Proposer.js"
import { EvaluationDispatch } from "./EvaluationDispatch.js"
import { pendingProgram, propose } from "./Proposal.js"
import * as RunLease from "./RunLease.js"
import { RunLimits } from "./RunLimits.js"
import * as Adaptive from "./Adaptive.js"
import * as Outcomes from "./Outcomes.js"
import { brokenStop, extensionOf, type Message, reportTo } from "./RunMessage.js"
import * as RunClient from "./RunClient.js"
import { RunNotActive, type RunStats, SteeringRefused } from "./RunProtocol.js"
import * as RunState from "./RunState.js"
import * as Resume from "./Resume.js"
import * as RunReplay from "./RunReplay.js"
import * as Steer from "./Steer.js"

export type { RunHandle, RunSummary, StartOptions } from "./RunHandle.js"

/**
 * Set by a cluster's host: a statement cut by a lost connection ends the actor (a defect) instead of
 * failing the run, which stays active in the database and is resumed by its entity once Postgres is back.
 */
export const dieOnLostConnection: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

/** Starts (or resumes) a run in the current scope and returns its handle. */
export const start = (options: StartOptions) =>
  Effect.gen(function*() {
    const dieOnLost = yield* FiberRef.get(dieOnLostConnection)
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const search = yield* SearchStore
    const llmCalls = yield* LlmCallStore
    const proposer = yield* Proposer
    const dispatch = yield* EvaluationDispatch
    const llm = yield* LlmClient
    const steeringStore = yield* SteeringStore
    const shared = yield* RunLimits
    let spec = options.spec
    const config = spec.config
    const startedAt = yield* Clock.currentTimeMillis

    const runId = options._tag === "Resume" ? options.runId : yield* makeRunId
    if (options._tag === "New") yield* runs.createRun(runId, spec, startedAt)
    // One process drives a run at a time (RunBusy otherwise); released when the run has finished.
    const lease = yield* RunLease.acquire(runId)
    yield* Effect.addFinalizer(() => Effect.ignore(lease.release))
    const loaded = yield* Resume.load(runId, config, options._tag === "Resume")
    // A resumed run may come with new settings (a new maximum): they are the run's from now on.
    if (options._tag === "Resume") yield* runs.setRunSpec(runId, spec, startedAt)
    yield* runs.setRunStatus(runId, "running", null, startedAt)
    const population = loaded.population

    const firstCallUsd = config.budget_usd === undefined
      ? 0
      : yield* llm.estimateCostUsd({ system: "", user: options._tag === "New" ? options.initialCode : "" })
    let state = Resume.initialState(runId, startedAt, config, loaded, firstCallUsd)
    const sessionStart = state.evaluations
    let rootId = loaded.initialProgramId

    const events = yield* PubSub.unbounded<RunEvent>()
    const mailbox = yield* Queue.unbounded<Message>()
    const done = yield* Deferred.make<RunSummary, DatabaseError>()
    const proposals = yield* FiberSet.make<void>()
    const evaluations = yield* FiberSet.make<void>()
    const activity: RunState.Activity = { proposals: 0, evaluations: 0 }
    const publish = (event: RunEvent) => PubSub.publish(events, event)
    const send = (message: Message) => Queue.offer(mailbox, message)
    const now = Clock.currentTimeMillis
    // Program ids draw their random suffix from a stream of their own (unique per run), so the
    // search's random choices depend only on the seed.
    const newProgramId = makeProgramId.pipe(Effect.withRandom(Random.make(`${runId}:ids`)))
    const picker = makeParentPicker(population, candidates, { rootId: () => rootId })
    const novelty = config.search.novelty !== undefined && config.search.novelty.embedding_threshold !== undefined
    const context = {
      runId,
      config,
      proposer,
      picker,
      settings: settingsFromConfig(config),
      newProgramId,
      isKnown: (hash: string) => RunState.isDuplicate(state, hash),
      publish
    }
    const extension = extensionOf(spec.programPath)
    // The run's points, recorded with its LLM calls; a new run replaying a recording takes its steering and background results at the recorded points.
    const pacing = RunReplay.make(options._tag === "New" ? llm.recording.replayed : noRecording.replayed)
    const adaptive = yield* Adaptive.make({
      runId, config, population, candidates, search, llmCalls, llm, publish,
      apply: (apply) => send({ _tag: "Apply", apply }),
      background: (effect) => Effect.suspend(() => (pacing.backgroundStarted(), Effect.asVoid(FiberSet.run(proposals, effect)))),
      withPermit: shared.llm.withPermit
    }, options._tag === "Resume")

    // ---- workers: they report to the mailbox and change nothing themselves ----------------

    const startProposal = (reservedUsd: number) =>
      Effect.gen(function*() {
        // Each proposal draws from its own stream, seeded by the run's seed, the session's first
        // evaluation and the proposal's number, so its random choices do not depend on how
        // fibers interleave (failed proposals are retried under a new number).
        const random = Random.make(`${config.seed}:${sessionStart}:${state.proposalNumber}`)
        const sample = yield* population.sampleSteered(adaptive.parents(Steer.parentFilter(state)), adaptive.explore).pipe(Effect.withRandom(random))
        const islandTop = novelty && sample !== undefined
          ? population.islandTop(sample.island, config.search.novelty!.compare_with).map((m) => m.id)
          : []
        const adapted = yield* adaptive.forProposal(sample, state)
        const shift = adapted.adaptive?.shift !== undefined
        const task = { sample, random, islandTop, recentFailures: state.recentFailures, reservedUsd, guidance: guidanceText(state.steering), ...adapted }
        state = RunState.proposalStarted(state, reservedUsd)
        yield* FiberSet.run(
          proposals,
          reportTo(send, "proposals", activity, (markActive) =>
            shared.llm.withPermit(Effect.zipRight(markActive, propose(context, task))).pipe(
              Effect.map((outcome): Message => ({ _tag: "Proposed", outcome, reservedUsd, shift }))
            ))
        )
      })

    const startEvaluation = (program: Program) =>
      FiberSet.run(
        evaluations,
        reportTo(send, "evaluations", activity, (markActive) =>
          Effect.map(
            dispatch.evaluate(program, extension, markActive),
            ({ committed, outcome }): Message => ({ _tag: "Evaluated", program, outcome, committed })
          ))
      )

    /**
     * Starts what the state allows: proposals up to P (and the budget), then evaluations up to W
     * (proposals first: an evaluator's spawn would delay the first LLM requests of a run). A
     * budget that leaves no room stops the run only after the candidates it paid for are started.
     */
    const fill = Effect.gen(function*() {
      let decision = RunState.proposalDecision(state)
      for (; decision._tag === "Propose"; decision = RunState.proposalDecision(state)) {
        yield* startProposal(decision.reserveUsd)
      }
      for (let next = RunState.nextEvaluation(state); next !== undefined; next = RunState.nextEvaluation(state)) {
        state = next[0]
        yield* startEvaluation(next[1])
      }
      if (decision._tag === "Stop") state = RunState.requestStop(state, decision.reason, decision.message)
    })

    // ---- the owner's handlers ---------------------------------------------------------------

    const outcomes = { runId, config, candidates, search, llmCalls, llm, population, publish }
    const steerContext = {
      runId, candidates, store: steeringStore, llm, population, newProgramId, now, rootId: () => rootId, publish, step: pacing.step
    }
    const onEvaluated = (program: Program, outcome: EvaluationOutcome, committed = false) =>
      Effect.flatMap(Outcomes.evaluated(outcomes, state, program, outcome, committed), (next) => {
        const counted = next.evaluations > state.evaluations
        state = next
        return counted ? adaptive.evaluated(program, outcome, next) : Effect.void
      })

    const onControl = (control: RunClient.Control) =>
      Effect.gen(function*() {
        switch (control._tag) {
          case "Stop":
            state = RunState.requestStop(state, "interrupted", control.message)
            return
          case "Extend":
            state = RunState.extend(state, control.maxEvaluations)
            spec = { ...spec, config: { ...spec.config, max_evaluations: control.maxEvaluations } }
            yield* runs.setRunSpec(runId, spec, yield* now)
            state = yield* Steer.record(steerContext, state, { _tag: "Extend", max_evaluations: control.maxEvaluations })
            return
          case "SetConcurrency":
            state = RunState.setConcurrency(state, control)
            spec = {
              ...spec,
              config: { ...spec.config, concurrency: { ...spec.config.concurrency, ...RunState.stats(state, 0).concurrency } }
            }
            yield* runs.setRunSpec(runId, spec, yield* now)
            state = yield* Steer.record(steerContext, state, { _tag: "SetConcurrency", proposals: control.proposals, evaluations: control.evaluations })
            return
        }
      })

    /** Takes a replayed recording's action, as the recorded run's owner took it. */
    const replaySteering = (recorded: RecordedSteering) =>
      Effect.map(Steer.replay(steerContext, state, recorded, onControl), (next) => {
        if (next !== undefined) state = next
      })

    const handle = (message: Message): Effect.Effect<void, DatabaseError, Scope.Scope> => {
      const at = pacing.step()
      pacing.handling(message)
      switch (message._tag) {
        case "Proposed":
          if (message.shift === true && message.outcome._tag === "Candidate") adaptive.shiftCandidate(message.outcome.program.id)
          return Effect.map(Outcomes.proposed(outcomes, state, message.outcome, message.reservedUsd), (next) => void (state = next))
        case "Evaluated":
          return onEvaluated(message.program, message.outcome, message.committed)
        case "Broken": {
          const stop = brokenStop(message.cause)
          state = message.kind === "evaluations" ? RunState.evaluationDropped(state) : RunState.proposalAbandoned(state, 0)
          if (stop instanceof DatabaseError) return Effect.fail(stop)
          state = RunState.requestStop(state, stop.reason, stop.message)
          return stop.reason === "internal_error" ? Effect.logError(`run ${runId}: a ${message.kind} worker died`, message.cause) : Effect.void
        }
        case "Apply":
          return Effect.zipRight(llm.recording.applied(at), Effect.map(message.apply(state), (next) => void (state = next)))
        case "StopRequested":
          return Effect.sync(() => void (state = RunState.requestStop(state, message.reason, message.message)))
        case "GraceExpired":
          return Effect.gen(function*() {
            yield* FiberSet.clear(evaluations)
            state = { ...state, evaluating: 0 }
          })
        case "Control":
          return onControl(message.control).pipe(
            Effect.zipRight(Effect.flatMap(now, (at) => Deferred.succeed(message.reply, RunState.stats(state, at, activity))))
          )
        case "Steer":
          return Steer.take(steerContext, state, message.action).pipe(
            Effect.tapError((e) => Deferred.fail(message.reply, e._tag === "SteeringRefused" ? e : new SteeringRefused({ runId, message: e.message }))),
            Effect.flatMap((taken) => Effect.suspend(() => Deferred.succeed(message.reply, (state = taken.state, taken.reply)))),
            Effect.catchTag("SteeringRefused", () => Effect.void),
            Effect.asVoid
          )
      }
    }

    // ---- the owner's life: start, serve the mailbox, drain, finish ----------------------------

    const beginStop = Effect.gen(function*() {
      state = RunState.stopping(state)
      yield* publish(new RunStatusChanged({ runId, at: yield* now, status: "stopping", reason: state.stop!.reason }))
      yield* FiberSet.clear(proposals)
      state = { ...state, proposing: 0 }
      yield* Effect.forkScoped(Effect.zipRight(Effect.sleep(config.shutdown_grace_seconds * 1000), send({ _tag: "GraceExpired" })))
    })

    const startup = Effect.gen(function*() {
      yield* Effect.forkScoped(RunLease.keepAlive(
        lease,
        send({ _tag: "StopRequested", reason: "lease_lost", message: `another process took run ${runId} over (this one missed its heartbeats)` })
      ))
      yield* publish(new RunStarted({ runId, at: startedAt, resumed: options._tag === "Resume", evaluated: state.evaluations, requeued: loaded.requeue.length }))
      // A candidate still pending after MAX_EVALUATION_STARTS starts took evolve down with it (or
      // was cut off by a stop) each time: committed as failed instead of being re-queued forever.
      for (const { program, starts } of loaded.exhausted) {
        state = { ...state, evaluating: state.evaluating + 1 }
        yield* onEvaluated(program, {
          _tag: "Failed",
          failure: { kind: "evaluator_error", message: `evaluation was interrupted ${starts} times (evolve stopped or was killed during each); not retried` },
          feedback: null,
          durationMs: 0
        })
      }
      let first: ReadonlyArray<Program> = loaded.requeue
      const initialCode = options._tag === "New" ? options.initialCode : options.initialCode
      if (rootId === null && initialCode !== undefined) {
        const initial = pendingProgram({
          id: yield* newProgramId,
          runId,
          parentId: null,
          island: 0,
          generation: 0,
          code: initialCode,
          createdAt: yield* now,
          llm: null
        })
        yield* candidates.insertProgram(initial)
        rootId = initial.id
        state = RunState.claimed(state)
        first = [initial, ...first]
      }
      // The initial program (when not evaluated yet) is first in the queue, and proposals start
      // while it is evaluated: until its result is committed, the parent is sent without metrics.
      state = RunState.enqueueFirst(state, first)
      if (first[0]?.parentId === null && population.size === 0) state = RunState.awaitInitial(state)
      if (rootId === null && population.size === 0) {
        // Only reached through a resume whose initial program was lost: nothing to breed from.
        state = RunState.requestStop(state, "proposal_failures", "nothing to evolve: the run's initial program was never stored (start a new run)")
      }
      if (config.max_wall_seconds !== undefined) {
        const limit = config.max_wall_seconds
        yield* Effect.forkScoped(Effect.zipRight(
          Effect.sleep(limit * 1000),
          send({ _tag: "StopRequested", reason: "wall_clock", message: `wall-clock limit of ${limit} s reached` })
        ))
      }
    })

    const finish = Effect.gen(function*() {
      const stop = state.stop!
      state = RunState.finished(state, stop)
      const at = yield* now
      const record = runs.setRunStatus(runId, state.status, stop.message ?? stop.reason, at)
      // A run stopped by a database error can seldom record that: report the first error, not
      // this one ("update run status" hid "commit evaluation: database or disk is full").
      // A run taken over by another process: its status is that process's to write.
      if (stop.reason === "database_error") yield* Effect.ignore(record)
      else if (stop.reason !== "lease_lost") yield* record
      yield* publish(new RunStatusChanged({ runId, at, status: state.status, reason: stop.message ?? stop.reason }))
      return { ...RunState.stats(state, at), stopReason: stop.reason, message: stop.message } satisfies RunSummary
    })

    /** A database error of the owner itself stops the run like one of a worker (but see `dieOnLostConnection`). */
    const orStop = (effect: Effect.Effect<void, DatabaseError, Scope.Scope>) =>
      Effect.catchTag(effect, "DatabaseError", (e) =>
        dieOnLost && isLostConnection(e)
          ? Effect.die(e)
          : Effect.sync(() => void (state = RunState.requestStop(state, "database_error", e.message))))

    const owner = Effect.gen(function*() {
      yield* orStop(startup)
      for (;;) {
        if (state.stop === null) yield* fill
        if (state.stop !== null && state.status === "running") yield* beginStop
        if (state.status === "stopping" && RunState.drained(state)) break
        const due = pacing.dueSteering(state.stop !== null)
        if (due !== undefined) {
          // Where the recorded run's owner took its next action (after the fill that followed the
          // same result): taken here, then the run fills again, as it did.
          yield* orStop(replaySteering(due))
          continue
        }
        const message = yield* pacing.next(Queue.take(mailbox), state.stop !== null)
        yield* orStop(handle(message))
      }
      yield* FiberSet.clear(evaluations)
      return yield* finish
    })

    yield* Effect.scoped(owner).pipe(
      // After a lost connection too: the entity that resumes the run here must find its lease free.
      Effect.ensuring(Effect.ignore(retryOnLostConnection()(lease.release))),
      Effect.locally(HumanDesk.currentRun, runId),
      Effect.withRandom(Random.make(`${config.seed}:${state.evaluations}`)),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(done, exit)),
      Effect.forkScoped
    )

    // ---- the protocol, served in-process --------------------------------------------------------

    const notActive = () =>
      new RunNotActive({ runId, message: `run ${runId} is not running (it has ${state.status === "stopping" ? "been asked to stop" : state.status})` })
    const stats = Effect.map(now, (at) => RunState.stats(state, at, activity))
    /** Hands a message to the owner; one that arrives as the run ends is not answered by it: the run is not active. */
    const askOwner = <A, E>(message: (reply: Deferred.Deferred<A, E>) => Message) =>
      Effect.gen(function*() {
        if (state.stop !== null) return yield* notActive()
        const reply = yield* Deferred.make<A, E>()
        yield* send(message(reply))
        return yield* Deferred.await(reply).pipe(Effect.raceFirst(Effect.flatMap(Effect.exit(Deferred.await(done)), () => notActive())))
      })
    const client = yield* RunClient.serve({
      runId,
      stats,
      ask: (control) => askOwner<RunStats, never>((reply) => ({ _tag: "Control", control, reply })),
      steer: (action) => askOwner<RunClient.SteerReply, SteeringRefused>((reply) => ({ _tag: "Steer", action, reply })),
      steering: Effect.sync(() => state.steering)
    })

    return {
      runId,
      client,
      subscribe: PubSub.subscribe(events),
      stats,
      await: Deferred.await(done)
    } satisfies RunHandle
  })
