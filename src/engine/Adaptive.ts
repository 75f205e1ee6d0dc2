/**
 * Adaptive search for one run (issue 17), driven by the run's owner fiber (RunActor):
 * - every committed evaluation feeds the per-island stall detector (population/Stall.ts); a
 *   stalled island explores more, one step per further window: level 1 asks its usual parents
 *   for larger changes with a hotter model, level 2 and up also picks parents uniformly more
 *   often and asks for full rewrites instead of diffs; it receives the best island's best
 *   program; an island that improves goes back to normal;
 * - when exploring has failed everywhere (every island at level 2), the next proposal is a paradigm shift: its prompt sums up
 *   the approaches tried and asks for a fundamentally different one; its program then is the
 *   parent of the next NURTURE proposals (a new approach starts low and needs refining before
 *   it can compete), and of NURTURE more after each child that improves on it;
 * - every `search.meta_note_every` evaluations a background LLM call writes a meta-note (what
 *   raised the best score, what kept failing) that later prompts carry; the call is stored in
 *   llm_calls (purpose "meta_note", no program) and counts in the run's usage and budget, failed
 *   or not, like every other call;
 * - each decision is stored (search_decisions) and published as a `SearchAdapted` event with
 *   its reason. With `search.adaptive: false` none of this happens.
 */
import { Clock, Effect, Either, Random } from "effect"
import type { CandidateStore } from "../db/CandidateStore.js"
import type { LlmCallStore } from "../db/LlmCallStore.js"
import type { SearchStore } from "../db/SearchStore.js"
import type { DatabaseError } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import type { EvaluationOutcome, Program } from "../domain/Program.js"
import type { RunConfig } from "../domain/RunConfig.js"
import { type RunEvent, SearchAdapted, type SearchDecisionKind } from "../domain/RunEvent.js"
import { guidanceText } from "../domain/Steering.js"
import { failureAccounting, type LlmClient } from "../llm/LlmClient.js"
import { usageOf } from "../domain/LlmUsage.js"
import type { Population, Sample } from "../population/Population.js"
import * as Stall from "../population/Stall.js"
import { cleanNote, metaNotePrompt } from "../propose/MetaNotes.js"
import { type AdaptiveInput, REWRITE_LEVEL } from "../propose/SearchStatus.js"
import { callRecord } from "./Proposal.js"
import { programCode } from "./Resume.js"
import * as RunState from "./RunState.js"

export interface AdaptiveContext {
  readonly runId: RunId
  readonly config: RunConfig
  readonly population: Population
  readonly candidates: CandidateStore["Type"]
  readonly search: SearchStore["Type"]
  readonly llmCalls: LlmCallStore["Type"]
  readonly llm: LlmClient["Type"]
  readonly publish: (event: RunEvent) => Effect.Effect<unknown>
  /** Runs `f` on the owner fiber with the run's state (a meta-note's result). */
  readonly apply: (f: (state: RunState.RunState) => Effect.Effect<RunState.RunState, DatabaseError>) => Effect.Effect<void>
  /** Runs a background effect until the run stops (a meta-note's LLM call). */
  readonly background: (effect: Effect.Effect<void>) => Effect.Effect<void>
  /** The shared LLM permit the run's proposals take. */
  readonly withPermit: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** What adaptive search adds to one proposal. */
export interface ProposalAdaptive {
  readonly adaptive?: AdaptiveInput | undefined
  readonly temperature?: number | undefined
}

export interface ParentFilter {
  readonly pinned: ReadonlyArray<string>
  readonly banned: ReadonlySet<string>
}

export interface Adaptive {
  /** Probability of a uniform parent pick on `island` (0: the strategy as configured). */
  readonly explore: (island: number) => number
  /** The parents of the next proposal: a paradigm shift's lineage while it is refined (a person's pins win). */
  readonly parents: (filter: ParentFilter) => ParentFilter
  /** A paradigm shift's proposal became this candidate. */
  readonly shiftCandidate: (id: ProgramId) => void
  /** The adaptive part of the next proposal (a paradigm shift when one is due). */
  readonly forProposal: (sample: Sample | undefined, state: RunState.RunState) => Effect.Effect<ProposalAdaptive>
  /** A committed evaluation (`state`: the run's state after it). */
  readonly evaluated: (program: Program, outcome: EvaluationOutcome, state: RunState.RunState) => Effect.Effect<void, DatabaseError>
}

export const off: Adaptive = {
  explore: () => 0,
  parents: (filter) => filter,
  shiftCandidate: () => undefined,
  forProposal: () => Effect.succeed({}),
  evaluated: () => Effect.void
}

/**
 * Probability of a uniform parent pick by exploration level: exploration escalates one step at
 * a time, so level 1 keeps the usual parents (it only asks them for larger changes, hotter).
 */
const EXPLORE = [0, 0, 0.5, 0.8]
/** Improvements remembered for the meta-notes. */
const IMPROVEMENTS = 5
/** Proposals that refine a paradigm shift's program (and again after each improvement of its lineage). */
export const NURTURE = 4

const fmt = (x: number | undefined) => (x === undefined ? "none" : String(Number(x.toPrecision(6))))

/**
 * A run's adaptive search; `resumed`: take the latest meta-note back from the database and
 * rebuild each island's stall state by replaying the run's evaluations.
 */
export const make = (ctx: AdaptiveContext, resumed: boolean): Effect.Effect<Adaptive, DatabaseError> =>
  Effect.gen(function*() {
    const { config, population, runId } = ctx
    if (!config.search.adaptive) return off
    const every = config.search.meta_note_every
    const baseTemperature = config.llm.temperature
    let note = ""
    let stall = Stall.initial(population.islandCount, config.search.stall_window, [])
    if (resumed) {
      const last = (yield* ctx.search.listDecisions(runId, 1000)).filter((d) => d.kind === "note_written").at(-1)
      note = last?.note ?? ""
      // Each island's stall (its best, since when, its exploration level) as the run left it.
      stall = Stall.replay(population.islandCount, config.search.stall_window, yield* ctx.search.evaluationHistory(runId))
    }
    let shiftDue: string | undefined
    let noteBusy = false
    const improvements: Array<{ readonly id: ProgramId; readonly score: number; readonly island: number }> = []
    const shiftCandidates = new Set<string>()
    let nurture: { readonly id: ProgramId; readonly score: number; left: number } | undefined

    const decide = (kind: SearchDecisionKind, island: number | null, reason: string, evaluations: number, text?: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        yield* ctx.search.recordDecision(runId, { at, evaluations, kind, island, reason, note: text ?? null })
        yield* ctx.publish(new SearchAdapted({ runId, at, kind, island, reason, ...(text === undefined ? {} : { note: text }) }))
      })

    const temperatureAt = (level: number) => Math.min(2, baseTemperature + 0.2 * level)
    const levelText = (level: number) =>
      level < REWRITE_LEVEL
        ? `exploration level ${level}: larger changes of the usual parents, temperature ${fmt(temperatureAt(level))}`
        : `exploration level ${level}: uniform parents ${Math.round(EXPLORE[level]! * 100)}% of the time, temperature ${
          fmt(temperatureAt(level))
        }, full rewrites instead of diffs`

    const islandLines = (s: Stall.StallState) =>
      s.islands.map((i, k) =>
        `island ${k}: best ${fmt(i.best)} after ${i.evaluations} evaluations${
          i.level > 0 ? `, stalled for ${i.evaluations - i.improvedAt} (exploration level ${i.level})` : ""
        }`
      )

    /** The paradigm shift's summary of the approaches tried. */
    const approaches = (state: RunState.RunState) => {
      const failures = Object.entries(state.failuresByKind).filter(([, n]) => n > 0)
      return [
        ...islandLines(stall).map((l) => `- ${l}`),
        ...population.top(3).map((m) => `- program ${m.id}: score ${fmt(m.score)} (island ${m.island}, generation ${m.generation})`),
        `- ${state.evaluations} evaluations so far; failures: ${failures.length === 0 ? "none" : failures.map(([k, n]) => `${k} ${n}`).join(", ")}`,
        ...(note === "" ? [] : ["- the notes above sum up what was learnt"])
      ].join("\n")
    }

    const writeNote = (state: RunState.RunState, snapshot: Stall.StallState) =>
      Effect.gen(function*() {
        const changes = yield* Effect.forEach(improvements, (i) =>
          Effect.map(
            Effect.either(ctx.candidates.getProgram(i.id)),
            (p) => ({ score: i.score, island: i.island, change: Either.isRight(p) ? p.right.patch ?? "" : "" })
          ))
        const prompt = metaNotePrompt({
          goal: config.goal,
          guidance: guidanceText(state.steering),
          evaluations: state.evaluations,
          improvements: changes,
          failuresByKind: state.failuresByKind,
          recentFailures: state.recentFailures,
          islands: islandLines(snapshot),
          previous: note
        })
        const reply = yield* Effect.either(ctx.withPermit(ctx.llm.complete(prompt)))
        yield* ctx.apply((current) =>
          Effect.gen(function*() {
            noteBusy = false
            const at = yield* Clock.currentTimeMillis
            const usage = Either.isRight(reply) ? usageOf(reply.right) : failureAccounting(reply.left, ctx.llm.model)
            const error = Either.isLeft(reply) ? { kind: reply.left.reason, message: reply.left.message } : null
            // One call per note: the evaluations it was asked at, and the time (a resumed run may ask at the same count again).
            yield* ctx.llmCalls.recordLlmCall(callRecord(`${runId}.note.${state.evaluations}.${at}`, runId, null, "meta_note", usage, at, error))
            const next = RunState.llmUsed(current, usage)
            if (Either.isLeft(reply)) {
              yield* Effect.logWarning(`run ${runId}: meta-note not written: ${reply.left.message}`)
              return next
            }
            const text = cleanNote(reply.right.text)
            if (text === "") return next
            note = text
            yield* decide(
              "note_written",
              null,
              `meta-note after ${state.evaluations} evaluations (${changes.length} recent improvements, ${
                Object.values(state.failuresByKind).reduce((a, b) => a + b, 0)
              } failures)`,
              current.evaluations,
              text
            )
            return next
          })
        )
      }).pipe(Effect.withRandom(Random.make(`${config.seed}:note:${state.evaluations}`)))

    const onDecision = (d: Stall.StallDecision, evaluations: number) =>
      Effect.gen(function*() {
        switch (d._tag) {
          case "Stalled": {
            yield* decide("stall_detected", d.island, d.reason, evaluations)
            yield* decide("exploration_changed", d.island, `island ${d.island} stalled: ${levelText(d.level)}`, evaluations)
            const moved = population.migrateBest(d.island)
            if (moved !== undefined) {
              yield* ctx.search.recordMigrants(runId, [{ programId: moved.id, island: moved.to, origin: moved.from }], yield* Clock.currentTimeMillis)
              yield* population.loadReferenceCode(programCode(ctx.candidates))
              yield* decide(
                "migrated",
                d.island,
                `copied the best program ${moved.id} (score ${fmt(population.scoreOf(moved.id))}) from island ${moved.from} to the stalled island ${moved.to}`,
                evaluations
              )
            }
            return
          }
          case "Raised":
            return yield* decide("exploration_changed", d.island, `${d.reason}: ${levelText(d.level)}`, evaluations)
          case "Recovered":
            return yield* decide("exploration_changed", d.island, d.reason, evaluations)
          case "ShiftDue":
            shiftDue = d.reason
            return
        }
      })

    return {
      explore: (island) => EXPLORE[Stall.levelOf(stall, island)] ?? 0,

      parents: (filter) => {
        if (nurture === undefined || filter.pinned.length > 0 || filter.banned.has(nurture.id)) return filter
        const id = nurture.id
        if (--nurture.left <= 0) nurture = undefined
        return { pinned: [id], banned: filter.banned }
      },

      shiftCandidate: (id) => void shiftCandidates.add(id),

      forProposal: (sample, state) =>
        Effect.gen(function*() {
          const notes = note === "" ? undefined : note
          if (shiftDue !== undefined) {
            const reason = shiftDue
            shiftDue = undefined
            yield* decide("shift_proposed", null, `${reason}: the next proposal asks for a fundamentally different approach`, state.evaluations)
            return { adaptive: { level: 0, shift: approaches(state), notes }, temperature: Math.min(2, baseTemperature + 0.5) }
          }
          const level = sample === undefined ? 0 : Stall.levelOf(stall, sample.island)
          if (level === 0) return notes === undefined ? {} : { adaptive: { level, notes } }
          return { adaptive: { level, notes }, temperature: temperatureAt(level) }
        }).pipe(Effect.catchAll((e) => Effect.as(Effect.logWarning(`run ${runId}: search decision not stored: ${e.message}`), {}))),

      evaluated: (program, outcome, state) =>
        Effect.gen(function*() {
          const score = outcome._tag === "Scored" ? outcome.score : undefined
          if (score !== undefined && program.parentId !== null && state.best?.id === program.id) {
            improvements.push({ id: program.id, score, island: program.island })
            if (improvements.length > IMPROVEMENTS) improvements.shift()
          }
          if (shiftCandidates.delete(program.id) && score !== undefined) {
            nurture = { id: program.id, score, left: NURTURE }
            yield* decide(
              "exploration_changed",
              program.island,
              `the paradigm shift's program ${program.id} scored ${fmt(score)}: it is the parent of the next ${NURTURE} proposals, to refine the new approach`,
              state.evaluations
            )
          } else if (score !== undefined && nurture !== undefined && program.parentId === nurture.id && score > nurture.score) {
            nurture = { id: program.id, score, left: NURTURE }
          }
          if (program.parentId === null) {
            // The initial program is every island's first member.
            if (score !== undefined) stall = Stall.initial(population.islandCount, config.search.stall_window, Array(population.islandCount).fill(score))
          } else {
            const [next, decisions] = Stall.observe(stall, program.island, score)
            stall = next
            for (const d of decisions) yield* onDecision(d, state.evaluations)
          }
          if (every > 0 && state.evaluations > 0 && state.evaluations % every === 0 && !noteBusy) {
            noteBusy = true
            yield* ctx.background(writeNote(state, stall))
          }
        })
    } satisfies Adaptive
  })
