/**
 * The explorer's endpoints: what the web UI draws about a run (lineage graph, metric series,
 * throughput timeline, islands, MAP-Elites grid, Pareto front, model usage and the bandit, run
 * comparison), and the workspace (a file picker and the server's defaults for a new run).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { ProgramStatus } from "../domain/Program.js"
import { RunStatus, SearchDecisionKind } from "../domain/RunEvent.js"
import { Count, IntFromString, InvalidRequest, RunNotFoundError, runId, StorageError } from "./ApiCommon.js"

const Nullable = Schema.NullOr(Schema.Number)

// ---- lineage --------------------------------------------------------------------------------

/**
 * Columns, one entry per program (index i is the same program in every column): compact for
 * 10,000s of programs, and the shape plotting libraries take.
 */
export const RunLineage = Schema.Struct({
  runId: Schema.String,
  /** The best scored program, and the path from the root down to it (ids). */
  bestId: Schema.NullOr(Schema.String),
  bestPath: Schema.Array(Schema.String),
  /** Every program of the run (or only the scored ones with ?include=evaluated), oldest first. */
  id: Schema.Array(Schema.String),
  /** The index of each program's parent in these columns; -1 for the root (or a parent left out). */
  parent: Schema.Array(Schema.Int),
  status: Schema.Array(ProgramStatus),
  score: Schema.Array(Nullable),
  island: Schema.Array(Count),
  generation: Schema.Array(Count),
  createdAt: Schema.Array(Schema.Number),
  failureKind: Schema.Array(Schema.NullOr(Schema.String))
}).annotations({ identifier: "RunLineage", description: "Every program as a node with its parent edge, in columns" })

// ---- series and timeline --------------------------------------------------------------------

/** Columns, one entry per finished evaluation in order (the n-th entry is evaluation n). */
export const MetricSeries = Schema.Struct({
  metric: Schema.String,
  /** `score` and every metric the run's evaluations report. */
  metrics: Schema.Array(Schema.String),
  createdAt: Schema.Number,
  programId: Schema.Array(Schema.String),
  at: Schema.Array(Schema.Number),
  /** The metric's value; null when the evaluation failed or did not report it. */
  value: Schema.Array(Nullable),
  status: Schema.Array(ProgramStatus)
}).annotations({ identifier: "MetricSeries" })

export const Bottleneck = Schema.Literal("llm", "evaluator", "neither", "unknown")

export const Timeline = Schema.Struct({
  start: Schema.Number,
  end: Schema.Number,
  bucketMs: Schema.Number,
  /** The run's own limits: P proposals (LLM calls) and W evaluations in flight. */
  limits: Schema.Struct({ proposals: Count, evaluations: Count }),
  /** Per bucket, the mean number of LLM calls, evaluations and queued candidates at a time. */
  llm: Schema.Array(Schema.Number),
  evaluation: Schema.Array(Schema.Number),
  queued: Schema.Array(Schema.Number),
  /** Per bucket, evaluations that finished in it. */
  completed: Schema.Array(Count),
  /** Busy share of the slots over the whole span (0–1). */
  utilization: Schema.Struct({ llm: Schema.Number, evaluation: Schema.Number }),
  meanQueued: Schema.Number,
  bottleneck: Bottleneck
}).annotations({
  identifier: "Timeline",
  description: "Slot occupancy and queue depth over time, reconstructed from each candidate's stored times"
})

// ---- search state ---------------------------------------------------------------------------

export const IslandSummary = Schema.Struct({
  island: Count,
  programs: Count,
  evaluated: Count,
  failed: Count,
  pending: Count,
  best: Nullable,
  bestProgramId: Schema.NullOr(Schema.String),
  /** Evaluations on the island since its best was found (how long it has stalled). */
  sinceImprovement: Count,
  migrantsIn: Count
}).annotations({ identifier: "IslandSummary" })

/** A decision of adaptive search (issue 17): what changed course, where, and why. */
export const SearchDecisionView = Schema.Struct({
  seq: Count,
  at: Schema.Number,
  /** The run's evaluations when it was taken. */
  evaluations: Count,
  kind: SearchDecisionKind,
  /** The island it concerns; null: the whole run (a paradigm shift, a meta-note). */
  island: Schema.NullOr(Count),
  reason: Schema.String,
  /** A meta-note's text (kind note_written). */
  note: Schema.NullOr(Schema.String)
}).annotations({ identifier: "SearchDecision" })

export const MapElitesCell = Schema.Struct({
  island: Count,
  coordinates: Schema.Array(Count),
  score: Schema.Number,
  programId: Schema.String
})

export const MapElites = Schema.Struct({
  features: Schema.Array(Schema.Struct({ name: Schema.String, bins: Count })),
  /** The elite of every occupied cell, per island (empty when the run has no MAP-Elites grid). */
  cells: Schema.Array(MapElitesCell)
}).annotations({ identifier: "MapElites" })

export const ParetoView = Schema.Struct({
  objectives: Schema.Array(Schema.Struct({ metric: Schema.String, direction: Schema.Literal("maximize", "minimize") })),
  /** Scored programs with their objective values, in columns: `values[k][i]` is objective k of program i (null: not reported). */
  programId: Schema.Array(Schema.String),
  score: Schema.Array(Nullable),
  values: Schema.Array(Schema.Array(Nullable)),
  /** The non-dominated programs. */
  front: Schema.Array(Schema.String)
}).annotations({ identifier: "ParetoView" })

export const ModelArm = Schema.Struct({
  model: Schema.String,
  weight: Schema.Number,
  outcomes: Count,
  meanImprovement: Schema.Number,
  meanUsd: Schema.Number,
  /** The bandit's index for the next pick (bandit selection only). */
  index: Nullable
})

export const ModelTimeline = Schema.Struct({
  start: Schema.Number,
  bucketMs: Schema.Number,
  selection: Schema.Literal("weighted", "bandit"),
  models: Schema.Array(Schema.Struct({ model: Schema.String, calls: Schema.Array(Count), errors: Schema.Array(Count) })),
  /** Each model's record as the bandit sees it (rebuilt from the stored outcomes). */
  arms: Schema.Array(ModelArm)
}).annotations({ identifier: "ModelTimeline" })

export const RunCurve = Schema.Struct({
  runId: Schema.String,
  goal: Schema.String,
  status: RunStatus,
  createdAt: Schema.Number,
  /** Per finished evaluation: its number, ms since the run started, its score and the best so far. */
  points: Schema.Array(Schema.Struct({ n: Count, t: Schema.Number, score: Nullable, best: Nullable }))
}).annotations({ identifier: "RunCurve" })

const buckets = Schema.optionalWith(IntFromString(10, 2000), { default: () => 300 })

export class ExploreGroup extends HttpApiGroup.make("explore")
  .add(
    HttpApiEndpoint.get("runLineage")`/runs/${runId}/lineage`
      .setUrlParams(Schema.Struct({ include: Schema.optionalWith(Schema.Literal("all", "evaluated"), { default: () => "all" as const }) }))
      .addSuccess(RunLineage)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "Every program of the run as a node with its parent edge, and the path to the best one")
  )
  .add(
    HttpApiEndpoint.get("metricSeries")`/runs/${runId}/series`
      .setUrlParams(Schema.Struct({ metric: Schema.optionalWith(Schema.String, { default: () => "score" }) }))
      .addSuccess(MetricSeries)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "A metric (or the score) of every finished evaluation, in order: plot it against evaluation number or time")
  )
  .add(
    HttpApiEndpoint.get("timeline")`/runs/${runId}/timeline`
      .setUrlParams(Schema.Struct({ buckets }))
      .addSuccess(Timeline)
      .addError(RunNotFoundError)
  )
  .add(HttpApiEndpoint.get("islands")`/runs/${runId}/islands`.addSuccess(Schema.Array(IslandSummary)).addError(RunNotFoundError))
  .add(
    HttpApiEndpoint.get("searchDecisions")`/runs/${runId}/decisions`
      .addSuccess(Schema.Array(SearchDecisionView))
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "Adaptive search's decisions (stalls, exploration, migrations, paradigm shifts, meta-notes) with their reasons, oldest first (the latest 500)")
  )
  .add(
    HttpApiEndpoint.get("mapElites")`/runs/${runId}/map-elites`
      .addSuccess(MapElites)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "The MAP-Elites grid: each occupied cell's elite, per island")
  )
  .add(HttpApiEndpoint.get("pareto")`/runs/${runId}/pareto`.addSuccess(ParetoView).addError(RunNotFoundError))
  .add(
    HttpApiEndpoint.get("modelUsage")`/runs/${runId}/models`
      .setUrlParams(Schema.Struct({ buckets }))
      .addSuccess(ModelTimeline)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "LLM calls per model over time, and the model bandit's state")
  )
  .add(
    HttpApiEndpoint.get("compareRuns", "/compare")
      .setUrlParams(Schema.Struct({ runs: Schema.String.annotations({ description: "Run ids, comma-separated (2 to 8)" }) }))
      .addSuccess(Schema.Array(RunCurve))
      .addError(RunNotFoundError)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "The score curves of several runs, for comparison")
  )
  .addError(StorageError)
  .prefix("/api")
{}

// ---- workspace ------------------------------------------------------------------------------

export const WorkspaceEntry = Schema.Struct({
  name: Schema.String,
  /** Relative to the workspace root. */
  path: Schema.String,
  kind: Schema.Literal("file", "directory"),
  size: Count
})

export const WorkspaceListing = Schema.Struct({
  root: Schema.String,
  /** The listed directory, relative to the root ("" for the root itself). */
  dir: Schema.String,
  entries: Schema.Array(WorkspaceEntry),
  /** True when the directory had more entries than listed. */
  truncated: Schema.Boolean
}).annotations({ identifier: "WorkspaceListing" })

export const ServerDefaults = Schema.Struct({
  workspace: Schema.String,
  goal: Schema.String,
  maxEvaluations: Count,
  provider: Schema.String,
  model: Schema.String,
  baseUrl: Schema.String,
  providers: Schema.Array(Schema.String),
  concurrency: Schema.Struct({ proposals: Count, evaluations: Count })
}).annotations({ identifier: "ServerDefaults", description: "Settings a new run gets unless it names others" })

export class WorkspaceGroup extends HttpApiGroup.make("workspace")
  .add(
    HttpApiEndpoint.get("listFiles", "/workspace/files")
      .setUrlParams(Schema.Struct({ dir: Schema.optionalWith(Schema.String, { default: () => "" }) }))
      .addSuccess(WorkspaceListing)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Files and directories under the server's workspace (a file picker for new runs)")
  )
  .add(HttpApiEndpoint.get("defaults", "/defaults").addSuccess(ServerDefaults))
  .addError(StorageError)
  .prefix("/api")
{}
