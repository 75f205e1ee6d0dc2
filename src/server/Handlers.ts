import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Either, Layer, Stream } from "effect"
import { decodeRunConfig, hasContract, inferContract, parseConfigText, readPeerConfig } from "../config/ConfigLoader.js"
import { resolveRunSpec } from "../config/RunSpecs.js"
import * as Workspace from "../config/Workspace.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import type { ProgramDatabase } from "../db/ProgramDatabase.js"
import { CandidateStore } from "../db/CandidateStore.js"
import { ExploreQueries } from "../db/ExploreQueries.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import type { ConfigError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import { RunConflict, RunManager } from "../engine/RunManager.js"
import { EvolveApi } from "./Api.js"
import { api, InvalidRequest, ProgramNotFoundError } from "./ApiCommon.js"
import { ExploreLive, WorkspaceLive } from "./ExploreHandlers.js"
import * as Highlight from "./Highlight.js"
import * as RunPolicy from "./RunPolicy.js"
import { SteeringLive } from "./SteeringHandlers.js"
import { WorkersLive } from "./WorkersHandlers.js"
import { fileOf, programDetail, runDetail, runInfo, unifiedDiff } from "./Views.js"

// ---- create-run validation --------------------------------------------------------------------

/** config_yaml beyond this is refused (the whole body is capped too). */
const maxConfigYamlBytes = 64 * 1024

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** `over`'s keys win; nested objects are merged key by key, anything else is replaced. */
const mergeSettings = (base: unknown, over: unknown): unknown => {
  if (!isRecord(base) || !isRecord(over)) return over
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = Object.hasOwn(base, k) ? mergeSettings(base[k], v) : v
  return out
}

/** The request's settings: config_yaml, then config's keys over it (the web form sends both). */
const parseConfig = (payload: { readonly config?: unknown; readonly config_yaml?: string | undefined }) =>
  Effect.gen(function*() {
    if (payload.config_yaml === undefined) return payload.config ?? {}
    const fromYaml = yield* parseConfigText(payload.config_yaml, "config_yaml", { maxBytes: maxConfigYamlBytes }).pipe(
      Effect.mapError((e) => new InvalidRequest({ message: e.message, path: "config_yaml" }))
    )
    return payload.config === undefined ? fromYaml : mergeSettings(fromYaml, payload.config)
  })

/**
 * The request's settings read as the CLI reads a config file: a ShinkaEvolve or OpenEvolve config
 * mapped, and a Shinka-style evaluate.py (in the workspace) run with the shinka contract unless
 * a contract is named.
 */
const readRequestConfig = (given: unknown, evaluator: string, workspace: Workspace.Workspace) =>
  Effect.gen(function*() {
    if (!isRecord(given)) return given
    const { raw } = yield* readPeerConfig(structuredClone(given), "config_yaml", false)
    if (!hasContract(raw)) yield* inferContract(raw, yield* Workspace.confine(workspace, workspace.root, evaluator, "evaluator"))
    return raw
  })

const configInvalid = (e: ConfigError) => new InvalidRequest({ message: e.message, ...(e.path === undefined ? {} : { path: e.path }) })

// ---- groups -----------------------------------------------------------------------------------

const SSE_HEARTBEAT = "15 seconds"

export const RunsLive = HttpApiBuilder.group(EvolveApi, "runs", (handlers) =>
  Effect.gen(function*() {
    const manager = yield* RunManager
    const runs = yield* RunStore
    const candidates = yield* CandidateStore
    const queries = yield* RunQueries
    const explore = yield* ExploreQueries
    const policy = yield* RunPolicy.RunPolicy
    const context = yield* Effect.context<NodeContext.NodeContext | ProgramDatabase | Highlight.Highlighter>()
    const detailOf = (id: string) => Effect.flatMap(manager.get(id), runDetail).pipe(Effect.provide(context))

    return handlers
      .handle("createRun", ({ payload }) =>
        api(Effect.gen(function*() {
          const raw = yield* readRequestConfig(yield* parseConfig(payload), payload.evaluator, policy.workspace).pipe(
            Effect.mapError(configInvalid),
            Effect.provide(context)
          )
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
            Effect.mapError(configInvalid),
            Effect.provide(context)
          )
          const runId = yield* manager.create(spec, initialCode).pipe(Effect.catchTag("ConfigError", configInvalid))
          return yield* detailOf(runId).pipe(Effect.catchTag("RunNotFound", Effect.die))
        })))
      .handle("listRuns", () =>
        api(Effect.gen(function*() {
          const archived = yield* explore.archivedRuns
          return (yield* manager.list).map((info) => runInfo(info, archived.has(info.overview.id)))
        })))
      .handle("getRun", ({ path }) => api(detailOf(path.runId)))
      .handle("pauseRun", ({ path }) => api(Effect.flatMap(manager.pause(path.runId), () => detailOf(path.runId))))
      .handle("stopRun", ({ path }) => api(Effect.flatMap(manager.stop(path.runId), () => detailOf(path.runId))))
      .handle("resumeRun", ({ path, payload }) =>
        api(Effect.flatMap(
          // A new maximum is an Extend: told to the run when it runs, else the run starts again.
          payload?.max_evaluations === undefined ? manager.resume(path.runId) : manager.extend(path.runId, payload.max_evaluations),
          () => detailOf(path.runId)
        ).pipe(Effect.catchTag("ConfigError", configInvalid))))
      .handle("extendRun", ({ path, payload }) =>
        api(Effect.flatMap(manager.extend(path.runId, payload.max_evaluations), () => detailOf(path.runId)).pipe(
          Effect.catchTag("ConfigError", configInvalid)
        )))
      .handle("archiveRun", ({ path, payload }) =>
        api(Effect.gen(function*() {
          const info = yield* manager.get(path.runId)
          yield* explore.setArchived(info.overview.id, payload.archived)
          return runInfo(info, payload.archived)
        })))
      .handle("deleteRun", ({ path }) =>
        api(Effect.gen(function*() {
          const info = yield* manager.get(path.runId)
          const status = info.overview.status
          if (info.live._tag === "Some" || status === "running" || status === "stopping") {
            return yield* new RunConflict({ message: `run ${info.overview.id} is ${status}: stop it before deleting it` })
          }
          yield* explore.deleteRun(info.overview.id)
        })))
      .handle("listPrograms", ({ path, urlParams: q }) =>
        api(Effect.gen(function*() {
          const run = yield* runs.getRun(path.runId)
          const page = yield* explore.listPrograms(run.id, {
            sort: q.sort,
            order: q.order,
            limit: q.limit,
            offset: q.offset,
            status: q.status,
            island: q.island,
            model: q.model,
            failureKind: q.failure,
            text: q.q
          })
          const metrics = yield* explore.metricNames(run.id)
          return { ...page, metrics, offset: q.offset, limit: q.limit }
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
    const candidates = yield* CandidateStore
    const context = yield* Effect.context<ProgramDatabase | Highlight.Highlighter>()
    return handlers
      .handle("getProgram", ({ path, urlParams }) =>
        api(programDetail(path.programId, urlParams.highlight ?? false).pipe(Effect.provide(context))))
      .handle("lineage", ({ path }) => api(queries.lineage(path.programId, 10_000, 200)))
      .handle("programDiff", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const [from, to] = yield* candidates.getPrograms([urlParams.against, path.programId])
          const { fileName } = yield* fileOf(to!.runId)
          return { from: from!.id, to: to!.id, diff: unifiedDiff(from!, to!, fileName) }
        }).pipe(Effect.provide(context))))
      .handle("programCode", ({ path, urlParams }) =>
        api(Effect.gen(function*() {
          const program = yield* candidates.getProgram(path.programId)
          const { fileName } = yield* fileOf(program.runId)
          const name = `${program.id}-${fileName}`.replace(/[^A-Za-z0-9._-]/g, "_")
          return HttpServerResponse.text(program.code, {
            contentType: "text/plain; charset=utf-8",
            headers: urlParams.download === true ? { "content-disposition": `attachment; filename="${name}"` } : {}
          })
        }).pipe(Effect.provide(context))))
  }))

export const ApiLive = HttpApiBuilder.api(EvolveApi).pipe(
  Layer.provide([RunsLive, ProgramsLive, ExploreLive, WorkspaceLive, SteeringLive, WorkersLive]),
  Layer.provide([NodeContext.layer, Highlight.layer])
)
