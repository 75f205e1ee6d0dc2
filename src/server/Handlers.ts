import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { createTwoFilesPatch } from "diff"
import { basename } from "node:path"
import { Effect, Either, Layer, Option, Stream } from "effect"
import { decodeRunConfig, parseConfigText } from "../config/ConfigLoader.js"
import { resolveRunSpec } from "../config/RunSpecs.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import type { ProgramDatabase } from "../db/ProgramDatabase.js"
import { CandidateStore } from "../db/CandidateStore.js"
import { EventStore } from "../db/EventStore.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import type { DatabaseError, ProgramNotFound, RunNotFound } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { Program } from "../domain/Program.js"
import { type RunConflict, type RunInfo as ManagerRunInfo, RunManager } from "../engine/RunManager.js"
import {
  EvolveApi,
  InvalidRequest,
  ProgramNotFoundError,
  type RunDetail,
  type RunInfo,
  RunNotFoundError,
  RunStateConflict,
  StorageError
} from "./Api.js"
import * as Highlight from "./Highlight.js"
import * as RunPolicy from "./RunPolicy.js"

// ---- error translation ------------------------------------------------------------------------

type Known = DatabaseError | RunNotFound | ProgramNotFound | RunConflict
type ApiErrorOf<E> = E extends DatabaseError ? StorageError
  : E extends RunNotFound ? RunNotFoundError
  : E extends ProgramNotFound ? ProgramNotFoundError
  : E extends RunConflict ? RunStateConflict
  : E

const toApiError = (e: Known) => {
  switch (e._tag) {
    case "DatabaseError":
      return new StorageError({ message: e.message })
    case "RunNotFound":
      return new RunNotFoundError({ runId: e.runId, message: e.message })
    case "ProgramNotFound":
      return new ProgramNotFoundError({ programId: e.programId, message: e.message })
    case "RunConflict":
      return new RunStateConflict({ message: e.message })
  }
}

const api = <A, E extends Known | InvalidRequest, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, ApiErrorOf<E>, R> =>
  Effect.mapError(effect, (e) => (e._tag === "InvalidRequest" ? e : toApiError(e))) as Effect.Effect<A, ApiErrorOf<E>, R>

// ---- views ------------------------------------------------------------------------------------

export const runInfo = ({ intent, live, overview }: ManagerRunInfo): RunInfo => {
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
    maxEvaluations: stats?.maxEvaluations ?? config.max_evaluations,
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
      queued: stats.queued
    }
  }
}

const runDetail = (info: ManagerRunInfo) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const llmCalls = yield* LlmCallStore
    const events = yield* EventStore
    const runId = info.overview.id
    const best = yield* candidates.bestPrograms(runId, 1)
    const models = yield* llmCalls.usageByModel(runId)
    const lastEventId = yield* events.lastEventSeq(runId)
    return {
      ...runInfo(info),
      bestProgramId: best[0]?.id ?? null,
      lastEventId,
      config: info.overview.spec.config,
      models
    } satisfies RunDetail
  })

/** Unified diff parent → program; both sides named after the program file so viewers can highlight it. */
const unifiedDiff = (parent: Program, program: Program, fileName: string): string | null => {
  if (program.code === "" && program.status !== "evaluated") return null
  const patch = createTwoFilesPatch(fileName, fileName, parent.code, program.code, `parent ${parent.id}`, `program ${program.id}`, {
    context: 3,
    timeout: 2000
  })
  return patch ?? null
}

const programDetail = (id: string, highlight: boolean) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const llmCalls = yield* LlmCallStore
    const program = yield* candidates.getProgram(id)
    const parent = program.parentId === null
      ? Option.none<Program>()
      : yield* Effect.option(candidates.getProgram(program.parentId))
    const run = yield* runs.getRun(program.runId).pipe(Effect.option)
    const language = Option.match(run, { onNone: () => "text", onSome: (r) => r.spec.config.language ?? "text" })
    const fileName = Option.match(run, { onNone: () => "program", onSome: (r) => basename(r.spec.programPath) })
    const calls = yield* llmCalls.llmCallsForProgram(program.id)
    const highlighted = highlight ? yield* (yield* Highlight.Highlighter).toHtml(program.code, language) : undefined
    return {
      ...program,
      language,
      diff: Option.match(parent, { onNone: () => null, onSome: (p) => unifiedDiff(p, program, fileName) }),
      parentScore: Option.match(parent, { onNone: () => null, onSome: (p) => p.score }),
      llmCalls: calls.map(({ programId: _p, runId: _r, ...call }) => call),
      ...(highlighted === undefined ? {} : { highlighted })
    }
  })

// ---- create-run validation --------------------------------------------------------------------

/** config_yaml beyond this is refused (the whole body is capped too). */
const maxConfigYamlBytes = 64 * 1024

const parseConfig = (payload: { readonly config?: unknown; readonly config_yaml?: string | undefined }) =>
  Effect.gen(function*() {
    if (payload.config !== undefined && payload.config_yaml !== undefined) {
      return yield* new InvalidRequest({ message: "give either config or config_yaml, not both", path: "config_yaml" })
    }
    if (payload.config_yaml === undefined) return payload.config ?? {}
    return yield* parseConfigText(payload.config_yaml, "config_yaml", { maxBytes: maxConfigYamlBytes }).pipe(
      Effect.mapError((e) => new InvalidRequest({ message: e.message, path: "config_yaml" }))
    )
  })

// ---- groups -----------------------------------------------------------------------------------

const SSE_HEARTBEAT = "15 seconds"

export const RunsLive = HttpApiBuilder.group(EvolveApi, "runs", (handlers) =>
  Effect.gen(function*() {
    const manager = yield* RunManager
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const queries = yield* RunQueries
    const policy = yield* RunPolicy.RunPolicy
    const context = yield* Effect.context<NodeContext.NodeContext | ProgramDatabase | Highlight.Highlighter>()
    const detailOf = (id: string) => Effect.flatMap(manager.get(id), runDetail).pipe(Effect.provide(context))

    return handlers
      .handle("createRun", ({ payload }) =>
        api(Effect.gen(function*() {
          const raw = yield* parseConfig(payload)
          const config = yield* decodeRunConfig(raw).pipe(
            Effect.mapError((e) =>
              new InvalidRequest({ message: e.message, path: e.path === undefined || e.path === "" ? "config" : `config.${e.path}` })
            )
          )
          yield* Either.mapLeft(RunPolicy.check(policy, raw, config), (v) => new InvalidRequest(v))
          const { initialCode, spec } = yield* resolveRunSpec(payload.program, payload.evaluator, config, process.execPath, {
            workspace: policy.workspace
          }).pipe(
            Effect.tap(({ spec }) => EvaluatorLive.preflight(spec.config.evaluator)),
            Effect.mapError((e) => new InvalidRequest({ message: e.message, ...(e.path === undefined ? {} : { path: e.path }) })),
            Effect.provide(context)
          )
          const runId = yield* manager.create(spec, initialCode).pipe(
            Effect.catchTag("ConfigError", (e) => new InvalidRequest({ message: e.message, ...(e.path === undefined ? {} : { path: e.path }) }))
          )
          return yield* detailOf(runId).pipe(Effect.catchTag("RunNotFound", Effect.die))
        })))
      .handle("listRuns", () => api(Effect.map(manager.list, (runs) => runs.map(runInfo))))
      .handle("getRun", ({ path }) => api(detailOf(path.runId)))
      .handle("pauseRun", ({ path }) => api(Effect.flatMap(manager.pause(path.runId), () => detailOf(path.runId))))
      .handle("stopRun", ({ path }) => api(Effect.flatMap(manager.stop(path.runId), () => detailOf(path.runId))))
      .handle("resumeRun", ({ path, payload }) =>
        api(Effect.flatMap(
          // A new maximum is an Extend: told to the run when it runs, else the run starts again.
          payload?.max_evaluations === undefined ? manager.resume(path.runId) : manager.extend(path.runId, payload.max_evaluations),
          () => detailOf(path.runId)
        ).pipe(Effect.catchTag("ConfigError", (e) => new InvalidRequest({ message: e.message, ...(e.path === undefined ? {} : { path: e.path }) })))))
      .handle("listPrograms", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const page = yield* queries.listPrograms(run.id, urlParams)
          return { ...page, offset: urlParams.offset, limit: urlParams.limit }
        })))
      .handle("bestProgram", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const best = yield* candidates.bestPrograms(run.id, 1)
          if (best.length === 0) {
            return yield* new ProgramNotFoundError({ programId: "", message: `run ${run.id} has no scored program yet` })
          }
          return yield* programDetail(best[0]!.id, urlParams.highlight ?? false).pipe(Effect.provide(context))
        })))
      .handle("scores", ({ path }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const points = yield* queries.scoreTimeline(run.id, 20_000)
          return { createdAt: run.createdAt, points }
        })))
      .handle("events", ({ path, request, urlParams }) =>
        api(Effect.gen(function*() {
          const header = request.headers["last-event-id"]
          let after = urlParams.lastEventId ?? 0
          if (header !== undefined && header.trim() !== "") {
            if (!/^\d+$/.test(header.trim())) {
              return yield* new InvalidRequest({ message: "Last-Event-ID must be a non-negative integer", path: "Last-Event-ID" })
            }
            after = Number(header.trim())
          }
          const run = yield* runs.getRun(path.runId)
          const events = manager.events(run.id as RunId, after).pipe(
            Stream.map((e) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${e.data}\n\n`),
            Stream.catchAll((e) => Stream.make(`event: error\ndata: ${JSON.stringify({ message: e.message })}\n\n`))
          )
          const heartbeat = Stream.tick(SSE_HEARTBEAT).pipe(Stream.map(() => ": keep-alive\n\n"))
          const body = Stream.concat(Stream.make("retry: 2000\n\n"), events).pipe(
            Stream.merge(heartbeat, { haltStrategy: "left" }),
            Stream.encodeText
          )
          return HttpServerResponse.stream(body, {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
          })
        })))
  }))

export const ProgramsLive = HttpApiBuilder.group(EvolveApi, "programs", (handlers) =>
  Effect.gen(function*() {
    const queries = yield* RunQueries
    const context = yield* Effect.context<ProgramDatabase | Highlight.Highlighter>()
    return handlers
      .handle("getProgram", ({ path, urlParams }) =>
        api(programDetail(path.programId, urlParams.highlight ?? false).pipe(Effect.provide(context))))
      .handle("lineage", ({ path }) => api(queries.lineage(path.programId, 10_000, 200)))
  }))

export const ApiLive = HttpApiBuilder.api(EvolveApi).pipe(
  Layer.provide([RunsLive, ProgramsLive]),
  Layer.provide([NodeContext.layer, Highlight.layer])
)
