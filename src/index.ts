/**
 * evolve as a library.
 *
 * - Promise facade: `evolve({ program, evaluate, goal, iterations, parallel, llm, onEvent, signal })`,
 *   `processBatch(items, fn, options)`, `llmBatch(prompts, options)`.
 * - Effect: every service as a module with its tag and layers (`ProgramDatabase`, `LlmClient`,
 *   `LlmClientLive`, `Proposer`, `Evaluator`, `CommandEvaluator`, `FunctionEvaluator`,
 *   `RunActor`, `RunManager`, …), `startRun` and `RunServices` (how every run is started and
 *   built), the run's message protocol `RunProtocol`, the one-call `EvolveLive(config)` layer and `EvolveTest`,
 *   `Evolution.run` (a whole run with its best program), `BatchProcessor`, and `Observability`
 *   (OpenTelemetry export and debug tracing). The HTTP service's layers are in `llm-evolve/server`.
 * - Domain schemas and errors, flat: `RunConfig`, `RunSpec`, `Program`, `Metrics`, `RunEvent`
 *   and its cases, `RunId`, `ProgramId`, `ConfigError`, `DatabaseError`, `LlmError`, ….
 */

// ---- domain: schemas, ids, events, errors ---------------------------------------------------
export * from "./domain/Errors.js"
export * from "./domain/Ids.js"
export * from "./domain/Program.js"
export * from "./domain/RunConfig.js"
export * from "./domain/RunEvent.js"

// ---- configuration ---------------------------------------------------------------------------
export * as ConfigLoader from "./config/ConfigLoader.js"
export * as RunSpecs from "./config/RunSpecs.js"

// ---- services, each with its tag and layers --------------------------------------------------
export * as ProgramDatabase from "./db/ProgramDatabase.js"
export { CandidateStore } from "./db/CandidateStore.js"
export { EventStore } from "./db/EventStore.js"
export { LeaseStore } from "./db/LeaseStore.js"
export { LlmCallStore } from "./db/LlmCallStore.js"
export { RunQueries } from "./db/RunQueries.js"
export { RunStore } from "./db/RunStore.js"
export { SearchStore } from "./db/SearchStore.js"
export * as LlmCache from "./llm/LlmCache.js"
export * as LlmCacheStore from "./db/LlmCacheStore.js"
export * as LlmClient from "./llm/LlmClient.js"
export * as LlmClientLive from "./llm/LlmClientLive.js"
export * as OfflineModel from "./llm/OfflineModel.js"
export * as OpenAiChat from "./llm/OpenAiChat.js"
export * as LlmProviders from "./llm/Providers.js"
export * as LlmModels from "./llm/Models.js"
export * as LlmReplay from "./llm/Replay.js"
export * as LlmResilience from "./llm/Resilience.js"
export * as Embeddings from "./llm/Embeddings.js"
export * as RetryPolicy from "./llm/RetryPolicy.js"
export * as Proposer from "./propose/Proposer.js"
export * as Edits from "./propose/Edits.js"
export * as Prompt from "./propose/Prompt.js"
export * as Population from "./population/Population.js"
export * as Evaluator from "./evaluate/Evaluator.js"
export * as CommandEvaluator from "./evaluate/CommandEvaluator.js"
export * as PythonEvaluator from "./evaluate/PythonEvaluator.js"
export * as EvaluatorLive from "./evaluate/EvaluatorLive.js"
export * as FunctionEvaluator from "./evaluate/FunctionEvaluator.js"
export * as MetricsReport from "./evaluate/MetricsReport.js"
export * as RunActor from "./engine/RunActor.js"
export * as RunProtocol from "./engine/RunProtocol.js"
export * as RunServices from "./engine/RunServices.js"
export * as RunState from "./engine/RunState.js"
export { startRun } from "./engine/startRun.js"
export * as RunManager from "./engine/RunManager.js"
export * as RunLimits from "./engine/RunLimits.js"

// ---- embedding -------------------------------------------------------------------------------
export * as Evolution from "./facade/Evolution.js"
export type { EvolveResult, RunOptions } from "./facade/Evolution.js"
export { EvolveLive, type EvolveLiveOptions, EvolveTest } from "./facade/Layers.js"
export { evolve, evolveEffect, type EvolveOptions, type LlmOptions } from "./facade/evolve.js"
export type { EvaluateContext, MetricsLike } from "./evaluate/FunctionEvaluator.js"
export type { RunHandle, RunSummary, StartOptions } from "./engine/RunActor.js"
export { RunStats, type StopReason } from "./engine/RunProtocol.js"

// ---- batch processing ------------------------------------------------------------------------
export * as BatchProcessor from "./batch/BatchProcessor.js"
export {
  type AttemptContext,
  type BatchFailure,
  BatchDefect,
  type BatchOptions,
  type BatchReport,
  type BatchResult,
  type BatchSuccess,
  type BatchSummary,
  BatchTimeout,
  RetryableError,
  type RetryOptions
} from "./batch/BatchProcessor.js"
export { type BatchRun, processBatch, type ProcessBatchContext, type ProcessBatchOptions } from "./batch/processBatch.js"
// llmBatch: many prompts over many models (its own result types live under `LlmBatch`).
export * as LlmBatch from "./llm/LlmBatch.js"
export { llmBatch, llmBatchEffect, type LlmBatchOptions } from "./llm/LlmBatch.js"

// ---- observability ---------------------------------------------------------------------------
// OpenTelemetry modules load only when OTEL_EXPORTER_OTLP_ENDPOINT is set (see Observability.layer).
export * as Observability from "./observability/Observability.js"
export * as DebugTracer from "./observability/DebugTracer.js"
export * as Prometheus from "./observability/Prometheus.js"
export * as RunMetrics from "./observability/RunMetrics.js"
