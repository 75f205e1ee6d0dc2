/**
 * What the owner fiber does with a steering action (issue 17): check it against the run, store
 * it (and an injected program), apply it to the run's state, publish a `RunSteered` event and
 * record it with the LLM calls (`--record`, with the owner's step, so a replay takes it again at
 * the same point). Only the owner fiber calls these, one at a time, so the checks see the state
 * they change.
 */
import { Effect } from "effect"
import type { CandidateStore } from "../db/CandidateStore.js"
import type { SteeringStore } from "../db/SteeringStore.js"
import type { DatabaseError } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import { zeroUsage } from "../domain/LlmUsage.js"
import { type RunEvent, RunSteered } from "../domain/RunEvent.js"
import * as Steering from "../domain/Steering.js"
import type { LlmClient } from "../llm/LlmClient.js"
import type { RecordedSteering } from "../llm/Replay.js"
import type { Population } from "../population/Population.js"
import { pendingProgram } from "./Proposal.js"
import type { Control, SteerReply } from "./RunClient.js"
import { SteeringRefused } from "./RunProtocol.js"
import * as RunState from "./RunState.js"

/** The model an injected program is credited to: its lineage is human. */
export const HUMAN = "human"

export interface SteerContext {
  readonly runId: RunId
  readonly candidates: CandidateStore["Type"]
  readonly store: SteeringStore["Type"]
  readonly llm: LlmClient["Type"]
  readonly population: Population
  readonly newProgramId: Effect.Effect<ProgramId>
  readonly now: Effect.Effect<number>
  readonly rootId: () => ProgramId | null
  readonly publish: (event: RunEvent) => Effect.Effect<unknown>
  /** Results the owner has handled so far: the point of the run an action is recorded at. */
  readonly step: () => number
}

/** The programs an action names. */
const namedPrograms = (action: Steering.SteeringAction): ReadonlyArray<ProgramId> =>
  action._tag === "Pin" ? action.programIds : action._tag === "Ban" ? [action.programId] : []

/** Pinned and banned parents, as the population's steered sampling takes them. */
export const parentFilter = (state: RunState.RunState) => ({
  pinned: state.steering.pinned,
  banned: new Set<string>(state.steering.banned)
})

/** Stores an accepted action, applies it and publishes it. */
export const record = (ctx: SteerContext, state: RunState.RunState, action: Steering.SteeringAction, programId: ProgramId | null = null) =>
  Effect.gen(function*() {
    const at = yield* ctx.now
    const stored = yield* ctx.store.append(ctx.runId, action, at, programId)
    yield* ctx.publish(
      new RunSteered({ runId: ctx.runId, at, seq: stored.seq, action: action._tag, summary: Steering.describe(action, programId), programId })
    )
    const named = namedPrograms(action)
    const programs: Record<string, string> = {}
    if (named.length > 0) {
      for (const p of yield* ctx.candidates.getPrograms(named).pipe(Effect.orElseSucceed(() => []))) programs[p.id] = p.codeHash
    }
    yield* ctx.llm.recording.steer({ step: ctx.step(), action, ...(named.length > 0 ? { programs } : {}) })
    return { ...state, steering: Steering.apply(state.steering, action, at, programId) }
  })

/**
 * A replayed recording's action for this run: the programs it names are this run's programs with
 * the same code; a message saying why when one of them is not in this run.
 */
export const resolveReplayed = (
  ctx: SteerContext,
  recorded: RecordedSteering
): Effect.Effect<Steering.SteeringAction | string, DatabaseError> =>
  Effect.gen(function*() {
    const { action } = recorded
    const named = namedPrograms(action)
    if (named.length === 0) return action
    const ids: Array<ProgramId> = []
    for (const id of named) {
      const hash = recorded.programs?.[id]
      const mine = hash === undefined ? undefined : yield* ctx.candidates.programIdByHash(ctx.runId, hash)
      if (mine === undefined) return `${Steering.describe(action)}: program ${id} of the recorded run has no counterpart in this run`
      ids.push(mine)
    }
    return action._tag === "Pin"
      ? { ...action, programIds: [ids[0]!, ...ids.slice(1)] }
      : { ...action, programId: ids[0]! }
  })

/**
 * Takes a replayed recording's action, as the recorded run's owner took it: Extend and
 * SetConcurrency through the run's own control handler (`control`), the rest as a person's action.
 * The run's next state, or undefined when nothing changed it here (the action was not replayed,
 * was refused, or went through `control`, which applies it itself).
 */
export const replay = <E>(
  ctx: SteerContext,
  state: RunState.RunState,
  recorded: RecordedSteering,
  control: (control: Control) => Effect.Effect<void, E>
): Effect.Effect<RunState.RunState | undefined, DatabaseError | E> =>
  Effect.gen(function*() {
    const action = yield* resolveReplayed(ctx, recorded)
    if (typeof action === "string") {
      yield* Effect.logWarning(`run ${ctx.runId}: recorded steering not replayed: ${action}`)
      return undefined
    }
    switch (action._tag) {
      case "Extend":
        yield* control({ _tag: "Extend", maxEvaluations: action.max_evaluations })
        return undefined
      case "SetConcurrency":
        yield* control({ _tag: "SetConcurrency", proposals: action.proposals, evaluations: action.evaluations })
        return undefined
      default: {
        const taken = yield* Effect.either(take(ctx, state, action))
        if (taken._tag === "Right") return taken.right.state
        if (taken.left._tag === "SteeringRefused") {
          yield* Effect.logWarning(`run ${ctx.runId}: recorded steering refused: ${taken.left.message}`)
          return undefined
        }
        return yield* taken.left
      }
    }
  })

/** Checks an action against the run; a refusal says why. */
const check = (ctx: SteerContext, state: RunState.RunState, action: Steering.SteeringAction) =>
  Effect.gen(function*() {
    const refuse = (message: string) => Effect.fail(new SteeringRefused({ runId: ctx.runId, message }))
    const { steering } = state
    switch (action._tag) {
      case "ClearHint": {
        const hint = steering.guidance.find((h) => h.version === action.version)
        if (hint === undefined) return yield* refuse(`no hint ${action.version} (this run has ${steering.guidance.length})`)
        if (hint.clearedAt !== null) return yield* refuse(`hint ${action.version} is not in force any more`)
        return
      }
      case "Pin": {
        for (const id of action.programIds) {
          if (steering.banned.includes(id)) return yield* refuse(`program ${id} is banned`)
          if (ctx.population.scoreOf(id) === undefined) return yield* refuse(`program ${id} is not a scored program of this run`)
        }
        return
      }
      case "Ban": {
        const program = yield* ctx.candidates.getProgram(action.programId).pipe(Effect.option)
        if (program._tag === "None" || program.value.runId !== ctx.runId) return yield* refuse(`program ${action.programId} is not a program of this run`)
        return
      }
      case "Inject": {
        if (RunState.isDuplicate(state, pendingProgram({ ...placeholder, code: action.code }).codeHash)) {
          return yield* refuse("identical to a program already in this run")
        }
        if (state.best === undefined && ctx.rootId() === null) return yield* refuse("the run has no program yet to attach it to")
        return
      }
      case "SetModelWeight": {
        if (!ctx.llm.models.includes(action.model)) return yield* refuse(`no model ${action.model} in this run (it has ${ctx.llm.models.join(", ")})`)
        return
      }
      default:
        return
    }
  })

const placeholder = { id: "" as ProgramId, runId: "" as RunId, parentId: null, island: 0, generation: 0, createdAt: 0, llm: null }

/**
 * Takes an action: checked, stored, applied. An injected program is stored pending as a child of
 * the best program (its lineage in the tree), credited to the model "human", and evaluated next.
 */
export const take = (
  ctx: SteerContext,
  state: RunState.RunState,
  action: Steering.SteeringAction
): Effect.Effect<{ readonly state: RunState.RunState; readonly reply: SteerReply }, SteeringRefused | DatabaseError> =>
  Effect.gen(function*() {
    yield* check(ctx, state, action)
    let next = state
    let programId: ProgramId | null = null
    if (action._tag === "Inject") {
      const program = pendingProgram({
        id: yield* ctx.newProgramId,
        runId: ctx.runId,
        parentId: state.best?.id ?? ctx.rootId(),
        island: state.best?.island ?? 0,
        generation: (state.best?.generation ?? 0) + 1,
        code: action.code,
        createdAt: yield* ctx.now,
        llm: zeroUsage(HUMAN)
      })
      yield* ctx.candidates.insertProgram(program)
      programId = program.id
      next = RunState.enqueueFirst(RunState.claimed(next), [program])
    }
    if (action._tag === "SetModelWeight") yield* ctx.llm.setWeight(action.model, action.weight)
    next = yield* record(ctx, next, action, programId)
    return { state: next, reply: { steering: next.steering, programId } }
  })
