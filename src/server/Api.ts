import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Program, ProgramStatus } from "../domain/Program.js"
import { RunConfig } from "../domain/RunConfig.js"
import { RunStatus } from "../domain/RunEvent.js"

// ---- errors ---------------------------------------------------------------------------------

export class RunNotFoundError extends Schema.TaggedError<RunNotFoundError>()(
  "RunNotFound",
  { runId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No run with this id" })
) {}

export class ProgramNotFoundError extends Schema.TaggedError<ProgramNotFoundError>()(
  "ProgramNotFound",
  { programId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No program with this id" })
) {}

/** The request was understood but its content is invalid; `path` names the offending field. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { message: Schema.String, path: Schema.optional(Schema.String) },
  HttpApiSchema.annotations({ status: 400, description: "Invalid request (the message names the field)" })
) {}

export class RunStateConflict extends Schema.TaggedError<RunStateConflict>()(
  "RunStateConflict",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The run is not in a state that allows this" })
) {}

export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 500, description: "The database failed" })
) {}

// ---- models ---------------------------------------------------------------------------------

const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

export const LiveStats = Schema.Struct({
  elapsedMs: Schema.Number,
  evaluations: Count,
  maxEvaluations: Count,
  scored: Count,
  failuresByKind: Schema.Record({ key: Schema.String, value: Count }),
  inFlightProposals: Count,
  inFlightEvaluations: Count,
  queued: Count
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
  maxEvaluations: Count,
  evaluated: Count,
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
  errorKind: Schema.NullOr(Schema.String),
  errorMessage: Schema.NullOr(Schema.String),
  createdAt: Schema.Number
}).annotations({ identifier: "LlmCall" })

export const ProgramDetail = Schema.Struct({
  ...Program.fields,
  language: Schema.String,
  /** Unified diff against the parent's code (null for the initial program). */
  diff: Schema.NullOr(Schema.String),
  parentScore: Schema.NullOr(Schema.Number),
  llmCalls: Schema.Array(LlmCall),
  /** The code as syntax-highlighted HTML (highlight.js classes), when asked with ?highlight=true. */
  highlighted: Schema.optional(Schema.String)
}).annotations({ identifier: "ProgramDetail" })
export type ProgramDetail = typeof ProgramDetail.Type

export const ProgramPage = Schema.Struct({
  total: Count,
  offset: Count,
  limit: Count,
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

const strict = { parseOptions: { onExcessProperty: "error" as const } }

export const CreateRunRequest = Schema.Struct({
  program: Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Path of the initial program (on the server)" }),
  evaluator: Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Path of the evaluator (on the server)" }),
  config: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
      description: "Run settings: the keys of evolve.yaml"
    })
  ),
  config_yaml: Schema.optional(Schema.String.annotations({ description: "Run settings as evolve.yaml text (instead of config)" }))
}).annotations({ ...strict, identifier: "CreateRunRequest" })

export const ResumeRunRequest = Schema.Struct({
  max_evaluations: Schema.optional(Schema.Int.pipe(Schema.between(1, 100_000_000)))
}).annotations({ ...strict, identifier: "ResumeRunRequest" })

const IntFromString = (min: number, max: number) => Schema.NumberFromString.pipe(Schema.int(), Schema.between(min, max))

export const ProgramsQuery = Schema.Struct({
  offset: Schema.optionalWith(IntFromString(0, 1e9), { default: () => 0 }),
  limit: Schema.optionalWith(IntFromString(1, 1000), { default: () => 50 }),
  sort: Schema.optionalWith(Schema.Literal("score", "time"), { default: () => "score" as const }),
  order: Schema.optionalWith(Schema.Literal("asc", "desc"), { default: () => "desc" as const }),
  status: Schema.optional(ProgramStatus),
  island: Schema.optional(IntFromString(0, 1e6))
}).annotations(strict)

// ---- endpoints ------------------------------------------------------------------------------

const runId = HttpApiSchema.param("runId", Schema.String)
const programId = HttpApiSchema.param("programId", Schema.String)

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
    HttpApiEndpoint.get("listPrograms")`/runs/${runId}/programs`
      .setUrlParams(ProgramsQuery)
      .addSuccess(ProgramPage)
      .addError(RunNotFoundError)
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
  .addError(StorageError)
  .prefix("/api")
{}

export class EvolveApi extends HttpApi.make("evolve")
  .add(RunsGroup)
  .add(ProgramsGroup)
  .annotate(OpenApi.Title, "evolve")
  .annotate(OpenApi.Description, "Host, watch and steer LLM-driven program-evolution runs")
{}
