/**
 * Steering a live run (issue 17): the actions a person takes on a run, as Schema values (the
 * payloads of RunProtocol's steering messages, the rows of the steering table, the `RunSteered`
 * events), and the run's steering state folded from them: the guidance with its history, the
 * pinned and banned parents, the model weights. Pure: the actor validates an action against the
 * run, then applies it here; resume folds the stored actions again.
 */
import { Schema } from "effect"
import { ProgramId } from "./Ids.js"

export const HintText = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4000))

/** Guidance added to every later prompt; `replace`: the guidance in force is cleared first. */
export const AddHint = Schema.TaggedStruct("AddHint", { text: HintText, replace: Schema.optional(Schema.Boolean) })
/** Takes hint `version` out of the guidance (it stays in the history). */
export const ClearHint = Schema.TaggedStruct("ClearHint", { version: Schema.Int.pipe(Schema.positive()) })
/** Parents are drawn only from these programs until Unpin. */
export const Pin = Schema.TaggedStruct("Pin", { programIds: Schema.NonEmptyArray(ProgramId) })
export const Unpin = Schema.TaggedStruct("Unpin", {})
/** Never a parent again. */
export const Ban = Schema.TaggedStruct("Ban", { programId: ProgramId })
/** A hand-written candidate, evaluated like any other; its lineage is marked human. */
export const Inject = Schema.TaggedStruct("Inject", {
  code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1_000_000)),
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(1000)))
})
/** A model's share of proposals in an ensemble (0: not used). */
export const SetModelWeight = Schema.TaggedStruct("SetModelWeight", {
  model: Schema.String.pipe(Schema.minLength(1)),
  weight: Schema.Number.pipe(Schema.nonNegative(), Schema.finite())
})
/** Kept in the history only: the run's spec stores the maximum and the concurrency. */
export const Extended = Schema.TaggedStruct("Extend", { max_evaluations: Schema.Int })
export const ConcurrencySet = Schema.TaggedStruct("SetConcurrency", {
  proposals: Schema.optional(Schema.Int),
  evaluations: Schema.optional(Schema.Int)
})

export const SteeringAction = Schema.Union(AddHint, ClearHint, Pin, Unpin, Ban, Inject, SetModelWeight, Extended, ConcurrencySet)
export type SteeringAction = typeof SteeringAction.Type

/** The actions only steering takes (Extend and SetConcurrency are messages of their own). */
export const SteerAction = Schema.Union(AddHint, ClearHint, Pin, Unpin, Ban, Inject, SetModelWeight)
export type SteerAction = typeof SteerAction.Type

/** An accepted action as stored (seq numbers a run's actions from 1); `programId`: the injected program. */
export class SteeringRecord extends Schema.Class<SteeringRecord>("SteeringRecord")({
  seq: Schema.Int,
  at: Schema.Number,
  action: SteeringAction,
  programId: Schema.NullOr(ProgramId)
}) {}

export class Hint extends Schema.Class<Hint>("Hint")({
  version: Schema.Int,
  text: Schema.String,
  at: Schema.Number,
  /** When it left the guidance (cleared, or replaced by a later hint); null while in force. */
  clearedAt: Schema.NullOr(Schema.Number)
}) {}

/** A run's steering state: what later proposals obey. */
export class SteeringView extends Schema.Class<SteeringView>("SteeringView")({
  /** Every hint ever given, oldest first (version = position + 1). */
  guidance: Schema.Array(Hint),
  pinned: Schema.Array(ProgramId),
  banned: Schema.Array(ProgramId),
  /** Weights set by steering (the config's apply to the other models). */
  modelWeights: Schema.Record({ key: Schema.String, value: Schema.Number }),
  injected: Schema.Array(ProgramId),
  /** Actions accepted so far. */
  actions: Schema.Int
}) {}

export const emptySteering = new SteeringView({ guidance: [], pinned: [], banned: [], modelWeights: {}, injected: [], actions: 0 })

const make = (fields: SteeringView) => new SteeringView(fields, { disableValidation: true })

/** The state after an accepted action (validation against the run is the caller's). */
export const apply = (view: SteeringView, action: SteeringAction, at: number, programId: ProgramId | null = null): SteeringView => {
  const next = { ...view, actions: view.actions + 1 }
  switch (action._tag) {
    case "AddHint": {
      const guidance = action.replace === true ? view.guidance.map((h) => (h.clearedAt === null ? clear(h, at) : h)) : view.guidance
      return make({ ...next, guidance: [...guidance, new Hint({ version: view.guidance.length + 1, text: action.text, at, clearedAt: null })] })
    }
    case "ClearHint":
      return make({ ...next, guidance: view.guidance.map((h) => (h.version === action.version && h.clearedAt === null ? clear(h, at) : h)) })
    case "Pin":
      return make({ ...next, pinned: [...new Set(action.programIds)] })
    case "Unpin":
      return make({ ...next, pinned: [] })
    case "Ban":
      return make({
        ...next,
        banned: view.banned.includes(action.programId) ? view.banned : [...view.banned, action.programId],
        pinned: view.pinned.filter((id) => id !== action.programId)
      })
    case "Inject":
      return make({ ...next, injected: programId === null ? view.injected : [...view.injected, programId] })
    case "SetModelWeight":
      return make({ ...next, modelWeights: { ...view.modelWeights, [action.model]: action.weight } })
    case "Extend":
    case "SetConcurrency":
      return make(next)
  }
}

const clear = (hint: Hint, at: number) => new Hint({ ...hint, clearedAt: at }, { disableValidation: true })

/** The state a run's stored actions lead to, in order. */
export const replay = (records: ReadonlyArray<SteeringRecord>): SteeringView =>
  records.reduce((view, r) => apply(view, r.action, r.at, r.programId), emptySteering)

/** The hints in force, oldest first. */
export const activeHints = (view: SteeringView): ReadonlyArray<Hint> => view.guidance.filter((h) => h.clearedAt === null)

/** The guidance as the prompt shows it ("" when none is in force). */
export const guidanceText = (view: SteeringView): string => activeHints(view).map((h) => `- ${h.text.trim()}`).join("\n")

/** One line about an action, for events and logs. */
export const describe = (action: SteeringAction, programId: ProgramId | null = null): string => {
  switch (action._tag) {
    case "AddHint":
      return `${action.replace === true ? "guidance replaced by" : "hint added"}: ${clip(action.text)}`
    case "ClearHint":
      return `hint ${action.version} cleared`
    case "Pin":
      return `parents pinned to ${action.programIds.join(", ")}`
    case "Unpin":
      return "parents unpinned"
    case "Ban":
      return `${action.programId} banned as a parent`
    case "Inject":
      return `program ${programId ?? "?"} injected by hand${action.note === undefined ? "" : `: ${clip(action.note)}`}`
    case "SetModelWeight":
      return `model ${action.model} weight set to ${action.weight}`
    case "Extend":
      return `maximum of evaluations set to ${action.max_evaluations}`
    case "SetConcurrency":
      return `concurrency set to${action.proposals === undefined ? "" : ` ${action.proposals} proposals`}${
        action.evaluations === undefined ? "" : ` ${action.evaluations} evaluations`
      }`
  }
}

const clip = (text: string) => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 120 ? `${line.slice(0, 119)}…` : line
}
