import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Layer, type Option, type Redacted } from "effect"
import type { RunSpec } from "../domain/RunConfig.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import * as Embeddings from "../llm/Embeddings.js"
import * as LlmClientLive from "../llm/LlmClientLive.js"
import * as Proposer from "../propose/Proposer.js"

/**
 * The live services one run needs, built from its spec: the LLM proposer and the evaluator,
 * plus the `LlmClient` itself (for `recordOutcome` / `estimateCostUsd`).
 */
export const layer = (
  spec: RunSpec,
  apiKey: Option.Option<Redacted.Redacted>,
  options: { readonly recordFile?: string | undefined } = {}
) => {
  const config = spec.config
  // ---- LLM provider wiring (issue 4): temperature-0 cache in the run's database, --record FILE,
  // replay recordings, and the embedding client when llm.embedding is configured.
  // A ConfigError here (replay file missing or unreadable, record file unwritable) is a defect
  // carrying its message, like the evaluator's below.
  const llm = LlmClientLive.layerNode(config.llm, apiKey, {
    recordFile: options.recordFile,
    cacheFile: config.database.path
  }).pipe(Layer.orDie)
  const embeddings = config.llm.embedding === undefined
    ? Layer.empty
    : Embeddings.layer(config.llm, apiKey).pipe(Layer.provide(NodeHttpClient.layerUndici))
  // ---- end LLM provider wiring
  const proposer = Proposer.layer({
    goal: config.goal,
    language: config.language ?? "text",
    editFormat: config.edit_format,
    maxCodeBytes: config.max_code_bytes
  }).pipe(Layer.provide(embeddings), Layer.provideMerge(llm))
  // The evaluator by contract (command / openevolve / shinka, src/evaluate/EvaluatorLive.ts); a
  // sandbox that cannot be honoured (bwrap missing) is a defect carrying the ConfigError's message.
  const evaluator = EvaluatorLive.fromSpec(spec).pipe(Layer.orDie, Layer.provide(NodeContext.layer))
  return Layer.merge(proposer, evaluator)
}
