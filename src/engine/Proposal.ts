/**
 * One proposal, from a drawn sample to a candidate: the rows of the parent and inspirations, the
 * LLM call(s) through the Proposer, the novelty check, and the records the run will store. It
 * changes no run state: the owner fiber (RunActor) applies the outcome.
 */
import { Clock, Effect, type Random } from "effect"
import type { LlmCallPurpose, LlmCallRecord, Transcript } from "../db/Records.js"
import type { DatabaseError, ProgramNotFound } from "../domain/Errors.js"
import type { ProgramId, RunId } from "../domain/Ids.js"
import { type LlmUsage, usageOf, zeroUsage } from "../domain/LlmUsage.js"
import type { Failure, Program } from "../domain/Program.js"
import type { RunConfig } from "../domain/RunConfig.js"
import { LlmCallRetried, type RunEvent } from "../domain/RunEvent.js"
import type { LlmRetryInfo } from "../llm/LlmClient.js"
import type { ParentPicker, Picked } from "../population/ParentPicker.js"
import type { Sample } from "../population/Population.js"
import { codeHash } from "../propose/Edits.js"
import type { Neighbour } from "../propose/Novelty.js"
import type { Proposer, ProposalSettings } from "../propose/Proposer.js"
import type { AdaptiveInput } from "../propose/SearchStatus.js"

export interface ProposalTask {
  /** The sample the owner drew with this proposal's random stream. */
  readonly sample: Sample | undefined
  /** The stream the rest of the proposal draws from (instruction variant, offline mutations). */
  readonly random: Random.Random
  /** The island's best programs, for the novelty check (when it is on). */
  readonly islandTop: ReadonlyArray<ProgramId>
  readonly recentFailures: ReadonlyArray<Failure>
  /** USD this proposal reserved under `budget_usd`. */
  readonly reservedUsd: number
  /** A person's guidance in force when the proposal started (issue 17); "" for none. */
  readonly guidance?: string | undefined
  /** Adaptive search (issue 17): exploration level, paradigm shift, meta-note, and the temperature that goes with them. */
  readonly adaptive?: AdaptiveInput | undefined
  readonly temperature?: number | undefined
}

export type ProposalOutcome =
  /** A new candidate, to be stored as pending unless it duplicates one the run already has. */
  | {
    readonly _tag: "Candidate"
    readonly program: Program
    readonly llmCall: LlmCallRecord
    readonly judgeCall: LlmCallRecord | null
    readonly transcripts: ReadonlyArray<Transcript>
  }
  /** No candidate: stored as failed or rejected with the reason. */
  | {
    readonly _tag: "Failed"
    readonly program: Program
    readonly llmCall: LlmCallRecord
    readonly judgeCall: LlmCallRecord | null
    readonly failure: Failure
    readonly transcripts: ReadonlyArray<Transcript>
  }
  /** No call was made (every model's breaker was open); nothing to store. */
  | { readonly _tag: "Abandoned" }

export interface ProposalContext {
  readonly runId: RunId
  readonly config: RunConfig
  readonly proposer: Proposer["Type"]
  readonly picker: ParentPicker
  readonly settings: Partial<ProposalSettings>
  readonly newProgramId: Effect.Effect<ProgramId>
  /** Whether the run already holds this code (a cheap early check; the owner decides finally). */
  readonly isKnown: (codeHash: string) => boolean
  readonly publish: (event: RunEvent) => Effect.Effect<unknown>
}

/** A new candidate, not yet evaluated. */
export const pendingProgram = (
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

/** An LLM call as stored (`programId`: the candidate it was for; null for a meta-note). */
export const callRecord = (
  id: string,
  runId: RunId,
  programId: ProgramId | null,
  purpose: LlmCallPurpose,
  usage: LlmUsage,
  at: number,
  error: { readonly kind: string; readonly message: string } | null
): LlmCallRecord => ({
  id,
  runId,
  programId,
  purpose,
  ...usage,
  outcome: error === null ? "ok" : "error",
  errorKind: error?.kind ?? null,
  errorMessage: error?.message ?? null,
  createdAt: at
})

/** Programs of the child's island a candidate is compared with by the novelty check. */
const neighboursOf = (context: ProposalContext, picked: Picked, islandTop: ReadonlyArray<ProgramId>, limit: number) =>
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
    const ids = islandTop.filter((id) => !seen.has(id)).slice(0, Math.max(0, limit - out.length))
    for (const row of yield* context.picker.read(ids)) push(row.id, row.code)
    return out
  })

export const propose = (context: ProposalContext, task: ProposalTask) =>
  Effect.gen(function*() {
    const { config, runId } = context
    const picked = yield* context.picker.readSample(task.sample)
    if (picked === undefined) return yield* Effect.die(new Error("no parent: the initial program is missing"))
    const { parent } = picked
    const id = yield* context.newProgramId
    const onRetry = (info: LlmRetryInfo) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => context.publish(new LlmCallRetried({ runId, at, ...info })))
    const result = yield* context.proposer.propose({
      parent,
      inspirations: picked.inspirations,
      recentFailures: task.recentFailures,
      mode: picked.mode,
      inspirationLabels: picked.labels,
      settings: context.settings,
      guidance: task.guidance,
      adaptive: task.adaptive,
      temperature: task.temperature
    }, onRetry)
    const at = yield* Clock.currentTimeMillis
    if (result._tag === "Failed" && result.kind === "llm" && result.reason === "circuit_open") {
      // Every model's breaker is open: no call was made. Wait for the first to half-open.
      yield* Effect.sleep(Math.min(Math.max(result.retryAfterMs ?? 1000, 100), 60_000))
      return { _tag: "Abandoned" } satisfies ProposalOutcome
    }
    const usage: LlmUsage = result.llm !== null
      ? usageOf(result.llm)
      : zeroUsage("", 0, result._tag === "Failed" ? result.attempts : 1)
    const llmError = result._tag === "Failed" && result.kind === "llm"
      ? { kind: result.message.split(":")[0]!, message: result.message }
      : null
    const llmCall = callRecord(`${id}.llm`, runId, id, "proposal", usage, at, llmError)
    const transcripts = config.llm.log_prompts
      ? (result.exchanges ?? []).map((e, attempt): Transcript => ({ programId: id, runId, attempt, ...e, createdAt: at }))
      : []
    const base = pendingProgram({
      id,
      runId,
      parentId: parent.id,
      island: picked.island,
      generation: parent.generation + 1,
      code: "",
      createdAt: at,
      llm: result.llm !== null ? usage : null
    })
    if (result._tag === "Failed") {
      const failure = { kind: result.kind, message: result.message }
      const program: Program = { ...base, patch: result.response, status: "failed", failure }
      return { _tag: "Failed", program, llmCall, judgeCall: null, failure, transcripts } satisfies ProposalOutcome
    }
    const candidate: Program = { ...base, code: result.code, codeHash: codeHash(result.code), patch: result.patch }
    const rejected = (failure: Failure, judgeCall: LlmCallRecord | null): ProposalOutcome => ({
      _tag: "Failed",
      program: { ...candidate, status: "rejected", failure },
      llmCall,
      judgeCall,
      failure,
      transcripts
    })
    if (context.isKnown(candidate.codeHash)) {
      return rejected({ kind: "duplicate", message: "identical to a program already in this run" }, null)
    }
    const novelty = config.search.novelty
    const check = context.proposer.checkNovelty
    if (novelty === undefined || novelty.embedding_threshold === undefined || check === undefined) {
      return { _tag: "Candidate", program: candidate, llmCall, judgeCall: null, transcripts } satisfies ProposalOutcome
    }
    const neighbours = yield* neighboursOf(context, picked, task.islandTop, novelty.compare_with)
    const verdict = yield* check(result.code, neighbours, {
      embeddingThreshold: novelty.embedding_threshold,
      llmJudge: novelty.llm_judge
    })
    const judgeCall = verdict.llm === null ? null : callRecord(`${id}.judge`, runId, id, "judge", usageOf(verdict.llm), at, null)
    if (!verdict.novel) return rejected({ kind: "duplicate", message: verdict.reason }, judgeCall)
    return { _tag: "Candidate", program: candidate, llmCall, judgeCall, transcripts } satisfies ProposalOutcome
  }).pipe(Effect.withRandom(task.random)) satisfies Effect.Effect<ProposalOutcome, DatabaseError | ProgramNotFound, never>
