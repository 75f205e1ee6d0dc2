/** The API's views of runs and programs, assembled from the RunManager and the stores. */
import { isPacked, unpack } from "../domain/ProgramTree.js"
import { createTwoFilesPatch } from "diff"
import { basename } from "node:path"
import { Effect, Option } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { EventStore } from "../db/EventStore.js"
import { ExploreQueries } from "../db/ExploreQueries.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import { RunStore } from "../db/RunStore.js"
import type { Program } from "../domain/Program.js"
import type { RunInfo as ManagerRunInfo } from "../engine/RunManager.js"
import { resolveModels } from "../llm/Models.js"
import type { ProgramDetail, RunDetail, RunInfo } from "./Api.js"
import * as Highlight from "./Highlight.js"

export const runInfo = ({ intent, live, overview }: ManagerRunInfo, archived: boolean): RunInfo => {
  const stats = Option.getOrUndefined(live)
  const bestLive = stats?.bestScore ?? null
  const bestScore = overview.bestScore === null ? bestLive : bestLive === null ? overview.bestScore : Math.max(bestLive, overview.bestScore)
  const config = overview.spec.config
  return {
    id: overview.id,
    status: stats === undefined ? overview.status : intent !== null && stats.status === "running" ? "stopping" : stats.status,
    paused: intent === "pause" || (stats === undefined && overview.stopReason === "paused"),
    active: stats !== undefined,
    stopReason: stats === undefined ? overview.stopReason : null,
    createdAt: overview.createdAt,
    updatedAt: overview.updatedAt,
    program: overview.spec.programPath,
    evaluator: overview.spec.evaluatorPath,
    goal: config.goal,
    provider: config.llm.provider,
    model: config.llm.provider === "offline" ? "offline" : config.llm.model,
    modelNames: resolveModels(config.llm).map((m) => m.name),
    archived,
    maxEvaluations: stats?.maxEvaluations ?? config.max_evaluations,
    evaluations: stats?.evaluations ?? overview.evaluations,
    evaluated: overview.evaluated,
    failed: overview.failed,
    pending: overview.pending,
    bestScore,
    inputTokens: Math.max(overview.inputTokens, stats?.inputTokens ?? 0),
    outputTokens: Math.max(overview.outputTokens, stats?.outputTokens ?? 0),
    usd: Math.max(overview.usd, stats?.usd ?? 0),
    live: stats === undefined ? null : {
      elapsedMs: stats.elapsedMs,
      evaluations: stats.evaluations,
      maxEvaluations: stats.maxEvaluations,
      scored: stats.scored,
      failuresByKind: stats.failuresByKind,
      inFlightProposals: stats.inFlightProposals,
      inFlightEvaluations: stats.inFlightEvaluations,
      queued: stats.queued,
      waitingFor: stats.waitingFor
    }
  }
}

export const runDetail = (info: ManagerRunInfo) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const llmCalls = yield* LlmCallStore
    const events = yield* EventStore
    const explore = yield* ExploreQueries
    const runId = info.overview.id
    const best = yield* candidates.bestPrograms(runId, 1)
    const models = yield* llmCalls.usageByModel(runId)
    const lastEventId = yield* events.lastEventSeq(runId)
    const archived = (yield* explore.archivedRuns).has(runId)
    return {
      ...runInfo(info, archived),
      bestProgramId: best[0]?.id ?? null,
      lastEventId,
      config: info.overview.spec.config,
      models
    } satisfies RunDetail
  })

/** Unified diff `from` → `to`, both sides named after the program file (a/NAME, b/NAME), so viewers show one file, not a rename. */
export const unifiedDiff = (from: Program, to: Program, fileName: string): string => {
  if (!isPacked(from.code) && !isPacked(to.code)) {
    return createTwoFilesPatch(`a/${fileName}`, `b/${fileName}`, from.code, to.code, undefined, undefined, { context: 3, timeout: 2000 }) ?? ""
  }
  // A multi-file program: one patch per changed file (diff2html shows each as a file).
  const files = (code: string) => new Map(isPacked(code) ? unpack(code).map((f) => [f.path, f.content]) : [[fileName, code]])
  const a = files(from.code)
  const b = files(to.code)
  return [...new Set([...a.keys(), ...b.keys()])].sort().flatMap((path) => {
    const x = a.get(path)
    const y = b.get(path)
    if (x === y) return []
    return [
      createTwoFilesPatch(x === undefined ? "/dev/null" : `a/${path}`, y === undefined ? "/dev/null" : `b/${path}`, x ?? "", y ?? "", undefined, undefined, {
        context: 3,
        timeout: 2000
      }) ?? ""
    ]
  }).join("")
}

/** The run's program file name and language (for diffs, downloads and highlighting). */
export const fileOf = (runId: string) =>
  Effect.gen(function*() {
    const run = yield* (yield* RunStore).getRun(runId).pipe(Effect.option)
    return Option.match(run, {
      onNone: () => ({ fileName: "program", language: "text" }),
      onSome: (r) => ({ fileName: basename(r.spec.programPath), language: r.spec.config.language ?? "text" })
    })
  })

export const programDetail = (id: string, highlight: boolean) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const llmCalls = yield* LlmCallStore
    const explore = yield* ExploreQueries
    const program = yield* candidates.getProgram(id)
    const parent = program.parentId === null
      ? Option.none<Program>()
      : yield* Effect.option(candidates.getProgram(program.parentId))
    const { fileName, language } = yield* fileOf(program.runId)
    const calls = yield* llmCalls.llmCallsForProgram(program.id)
    const transcripts = yield* explore.transcripts(program.id)
    const highlighted = highlight ? yield* (yield* Highlight.Highlighter).toHtml(program.code, language) : undefined
    const hasCode = program.code !== "" || program.status === "evaluated"
    return {
      ...program,
      language,
      fileName,
      diff: Option.match(parent, { onNone: () => null, onSome: (p) => (hasCode ? unifiedDiff(p, program, fileName) : null) }),
      parentScore: Option.match(parent, { onNone: () => null, onSome: (p) => p.score }),
      llmCalls: calls.map(({ programId: _p, runId: _r, ...call }) => call),
      transcripts: transcripts.map(({ programId: _p, runId: _r, ...t }) => t),
      ...(highlighted === undefined ? {} : { highlighted })
    } satisfies ProgramDetail
  })
