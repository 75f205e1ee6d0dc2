import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Program, ProgramStatus } from "../domain/Program.js"
import { RunConfig } from "../domain/RunConfig.js"
import { RunStatus } from "../domain/RunEvent.js"
import {
  Count,
  IntFromString,
  InvalidRequest,
  ProgramNotFoundError,
  programId,
  RunNotFoundError,
  runId,
  RunStateConflict,
  StorageError,
  strict
} from "./ApiCommon.js"
import { ExploreGroup, WorkspaceGroup } from "./ExploreApi.js"
import { SteeringGroup } from "./SteeringApi.js"
import { WorkersGroup } from "./WorkersApi.js"

export { InvalidRequest, ProgramNotFoundError, RunNotFoundError, RunStateConflict, StorageError } from "./ApiCommon.js"

// ---- models ---------------------------------------------------------------------------------

export const LiveStats = Schema.Struct({
  elapsedMs: Schema.Number,
  evaluations: Count,
  maxEvaluations: Count,
  scored: Count,
  failuresByKind: Schema.Record({ key: Schema.String, value: Count }),
  inFlightProposals: Count,
  inFlightEvaluations: Count,
  queued: Count,
  /** Set while the run waits on something outside it, e.g. "no evaluation worker alive". */
  waitingFor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "LiveStats", description: "Statistics of a run hosted by this server, this session" })

export const ModelUsage = Schema.Struct({
  model: Schema.String,
  calls: Count,
  errors: Count,
  inputTokens: Count,
  outputTokens: Count,
  usd: Schema.Number
}).annotations({ identifier: "ModelUsage" })

export const RunInfo = Schema.Struct({
  id: Schema.String,
  status: RunStatus,
  /** True while a pause is under way or the run was paused. */
  paused: Schema.Boolean,
  /** True while this server hosts the run. */
  active: Schema.Boolean,
  stopReason: Schema.NullOr(Schema.String),
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  program: Schema.String,
  evaluator: Schema.String,
  goal: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  /** Every model of the run (an ensemble has several). */
  modelNames: Schema.Array(Schema.String),
  /** Archived runs are hidden from the dashboard unless asked for. */
  archived: Schema.Boolean,
  maxEvaluations: Count,
  /** Evaluations finished, as counted against `maxEvaluations`: scored, or failed in the evaluator. */
  evaluations: Count,
  /** Scored programs. */
  evaluated: Count,
  /** Failed or rejected candidates, whether or not they reached the evaluator. */
  failed: Count,
  pending: Count,
  bestScore: Schema.NullOr(Schema.Number),
  inputTokens: Count,
  outputTokens: Count,
  usd: Schema.Number,
  live: Schema.NullOr(LiveStats)
}).annotations({ identifier: "RunInfo" })
export type RunInfo = typeof RunInfo.Type

export const RunDetail = Schema.Struct({
  ...RunInfo.fields,
  bestProgramId: Schema.NullOr(Schema.String),
  /** Id of the run's latest stored event: connect to /events with it to get only newer ones. */
  lastEventId: Count,
  config: RunConfig,
  models: Schema.Array(ModelUsage)
}).annotations({ identifier: "RunDetail" })
export type RunDetail = typeof RunDetail.Type

export const ProgramSummary = Program.omit("code", "patch", "feedback").annotations({ identifier: "ProgramSummary" })

export const LlmCall = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  inputTokens: Count,
  outputTokens: Count,
  usd: Schema.Number,
  latencyMs: Schema.Number,
  attempts: Count,
  outcome: Schema.Literal("ok", "error"),
  /** What the call was for: a candidate, a judge's score, a meta-note. */
  purpose: Schema.Literal("proposal", "judge", "meta_note"),
  errorKind: Schema.NullOr(Schema.String),
  errorMessage: Schema.NullOr(Schema.String),
  createdAt: Schema.Number
}).annotations({ identifier: "LlmCall" })

export const Transcript = Schema.Struct({
  attempt: Count,
  model: Schema.NullOr(Schema.String),
  system: Schema.String,
  user: Schema.String,
  /** The raw answer; null when the call failed. */
  response: Schema.NullOr(Schema.String),
  createdAt: Schema.Number
}).annotations({ identifier: "Transcript", description: "One exchange of a proposal with the LLM: the prompt and the raw answer" })

export const ProgramDiff = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  /** Unified diff from `from`'s code to `to`'s, both sides named after the program file. */
  diff: Schema.String
}).annotations({ identifier: "ProgramDiff" })

export const ProgramDetail = Schema.Struct({
  ...Program.fields,
  language: Schema.String,
  /** Unified diff against the parent's code (null for the initial program). */
  diff: Schema.NullOr(Schema.String),
  parentScore: Schema.NullOr(Schema.Number),
  llmCalls: Schema.Array(LlmCall),
  /** The program file's name (the run's initial program), for diffs and downloads. */
  fileName: Schema.String,
  /** What the proposal sent to the LLM and what came back, when the run recorded it (oldest first). */
  transcripts: Schema.Array(Transcript),
  /** The code as syntax-highlighted HTML (highlight.js classes), when asked with ?highlight=true. */
  highlighted: Schema.optional(Schema.String)
}).annotations({ identifier: "ProgramDetail" })
export type ProgramDetail = typeof ProgramDetail.Type

export const ProgramPage = Schema.Struct({
  total: Count,
  offset: Count,
  limit: Count,
  /** The metrics the run's evaluators report (a column each). */
  metrics: Schema.Array(Schema.String),
  items: Schema.Array(ProgramSummary)
}).annotations({ identifier: "ProgramPage" })

export const Lineage = Schema.Struct({
  ancestors: Schema.Array(ProgramSummary),
  program: ProgramSummary,
  children: Schema.Array(ProgramSummary)
}).annotations({ identifier: "Lineage", description: "Ancestors from the root down to the parent, the program, its children" })

export const ScorePoint = Schema.Struct({
  programId: Schema.String,
  at: Schema.Number,
  score: Schema.NullOr(Schema.Number),
  status: ProgramStatus
})

export const ScoreTimeline = Schema.Struct({
  createdAt: Schema.Number,
  points: Schema.Array(ScorePoint)
}).annotations({ identifier: "ScoreTimeline" })

// ---- requests -------------------------------------------------------------------------------

export const CreateRunRequest = Schema.Struct({
  program: Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Path of the initial program (on the server)" }),
  evaluator: Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Path of the evaluator (on the server)" }),
  config: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
      description: "Run settings: the keys of evolve.yaml"
    })
  ),
  config_yaml: Schema.optional(
    Schema.String.annotations({ description: "Run settings as evolve.yaml text; keys also given in config take config's value" })
  )
}).annotations({ ...strict, identifier: "CreateRunRequest" })

export const ResumeRunRequest = Schema.Struct({
  max_evaluations: Schema.optional(Schema.Int.pipe(Schema.between(1, 100_000_000)))
}).annotations({ ...strict, identifier: "ResumeRunRequest" })

export const ExtendRunRequest = Schema.Struct({
  max_evaluations: Schema.Int.pipe(Schema.between(1, 100_000_000)).annotations({ description: "The run's new maximum of evaluations" })
}).annotations({ ...strict, identifier: "ExtendRunRequest" })

export const ArchiveRunRequest = Schema.Struct({
  archived: Schema.Boolean
}).annotations({ ...strict, identifier: "ArchiveRunRequest" })

const SortKey = Schema.Union(
  Schema.Literal("score", "time", "generation", "cost", "eval_ms", "llm_ms", "island"),
  Schema.TemplateLiteral(Schema.Literal("metric:"), Schema.String)
).annotations({ description: "A column, or metric:NAME for one of the evaluator's metrics" })

export const ProgramsQuery = Schema.Struct({
  offset: Schema.optionalWith(IntFromString(0, 1e9), { default: () => 0 }),
  limit: Schema.optionalWith(IntFromString(1, 1000), { default: () => 50 }),
  sort: Schema.optionalWith(SortKey, { default: () => "score" as const }),
  order: Schema.optionalWith(Schema.Literal("asc", "desc"), { default: () => "desc" as const }),
  status: Schema.optional(ProgramStatus),
  island: Schema.optional(IntFromString(0, 1e6)),
  model: Schema.optional(Schema.String),
  failure: Schema.optional(Schema.String.annotations({ description: "Failure kind (patch, timeout, …)" })),
  q: Schema.optional(Schema.String.pipe(Schema.maxLength(200)).annotations({ description: "Text the code contains (case-insensitive)" }))
}).annotations(strict)

// ---- endpoints ------------------------------------------------------------------------------

export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("createRun", "/runs")
      .setPayload(CreateRunRequest)
      .addSuccess(RunDetail, { status: 201 })
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Start a new run (program, evaluator, evolve.yaml settings)")
  )
  .add(HttpApiEndpoint.get("listRuns", "/runs").addSuccess(Schema.Array(RunInfo)))
  .add(
    HttpApiEndpoint.get("getRun")`/runs/${runId}`
      .addSuccess(RunDetail)
      .addError(RunNotFoundError)
  )
  .add(
    HttpApiEndpoint.post("pauseRun")`/runs/${runId}/pause`
      .addSuccess(RunDetail)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .annotate(OpenApi.Description, "Graceful stop: in-flight evaluations finish, queued candidates stay pending")
  )
  .add(
    HttpApiEndpoint.post("resumeRun")`/runs/${runId}/resume`
      .setPayload(Schema.NullOr(ResumeRunRequest))
      .addSuccess(RunDetail)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("stopRun")`/runs/${runId}/stop`
      .addSuccess(RunDetail)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
  )
  .add(
    HttpApiEndpoint.post("extendRun")`/runs/${runId}/extend`
      .setPayload(ExtendRunRequest)
      .addSuccess(RunDetail)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "A new maximum of evaluations: a running run takes it at once, a stopped or finished one starts again")
  )
  .add(
    HttpApiEndpoint.post("archiveRun")`/runs/${runId}/archive`
      .setPayload(ArchiveRunRequest)
      .addSuccess(RunInfo)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "Archive (hide from the dashboard) or unarchive a run")
  )
  .add(
    HttpApiEndpoint.del("deleteRun")`/runs/${runId}`
      .addSuccess(Schema.Void, { status: 204 })
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .annotate(OpenApi.Description, "Delete a run that is not running, with its programs, LLM calls and events")
  )
  .add(
    HttpApiEndpoint.get("listPrograms")`/runs/${runId}/programs`
      .setUrlParams(ProgramsQuery)
      .addSuccess(ProgramPage)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "A page of the run's programs (no code), sorted by any column or metric, filtered")
  )
  .add(
    HttpApiEndpoint.get("bestProgram")`/runs/${runId}/best`
      .setUrlParams(Schema.Struct({ highlight: Schema.optional(Schema.BooleanFromString) }))
      .addSuccess(ProgramDetail)
      .addError(RunNotFoundError)
      .addError(ProgramNotFoundError)
  )
  .add(
    HttpApiEndpoint.get("scores")`/runs/${runId}/scores`
      .addSuccess(ScoreTimeline)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "Finished evaluations in time order (the latest 20000), for plots")
  )
  .add(
    HttpApiEndpoint.get("events")`/runs/${runId}/events`
      .setUrlParams(Schema.Struct({ lastEventId: Schema.optional(IntFromString(0, Number.MAX_SAFE_INTEGER)) }))
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" })))
      .addError(RunNotFoundError)
      .addError(InvalidRequest)
      .annotate(
        OpenApi.Description,
        "Server-Sent Events: stored events after Last-Event-ID (header) or lastEventId (query), then live ones"
      )
  )
  .addError(StorageError)
  .prefix("/api")
{}

export class ProgramsGroup extends HttpApiGroup.make("programs")
  .add(
    HttpApiEndpoint.get("getProgram")`/programs/${programId}`
      .setUrlParams(Schema.Struct({ highlight: Schema.optional(Schema.BooleanFromString) }))
      .addSuccess(ProgramDetail)
      .addError(ProgramNotFoundError)
  )
  .add(
    HttpApiEndpoint.get("lineage")`/programs/${programId}/lineage`
      .addSuccess(Lineage)
      .addError(ProgramNotFoundError)
  )
  .add(
    HttpApiEndpoint.get("programDiff")`/programs/${programId}/diff`
      .setUrlParams(Schema.Struct({ against: Schema.String.annotations({ description: "The other program's id (the diff's old side)" }) }))
      .addSuccess(ProgramDiff)
      .addError(ProgramNotFoundError)
      .annotate(OpenApi.Description, "Compare two programs: the unified diff from `against` to this one")
  )
  .add(
    HttpApiEndpoint.get("programCode")`/programs/${programId}/code`
      .setUrlParams(Schema.Struct({ download: Schema.optional(Schema.BooleanFromString) }))
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain" })))
      .addError(ProgramNotFoundError)
      .annotate(OpenApi.Description, "The program's code as text (?download=true: as a file named after the program)")
  )
  .addError(StorageError)
  .prefix("/api")
{}

export class EvolveApi extends HttpApi.make("evolve")
  .add(RunsGroup)
  .add(ProgramsGroup)
  .add(ExploreGroup)
  .add(WorkspaceGroup)
  .add(SteeringGroup)
  .add(WorkersGroup)
  .annotate(OpenApi.Title, "evolve")
  .annotate(OpenApi.Description, "Host, watch and steer LLM-driven program-evolution runs")
{}
