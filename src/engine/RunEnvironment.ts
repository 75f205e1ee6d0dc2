import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { dirname } from "node:path"
import { Layer, type Option, type Redacted } from "effect"
import type { RunSpec } from "../domain/RunConfig.js"
import * as CommandEvaluator from "../evaluate/CommandEvaluator.js"
import * as LlmClientLive from "../llm/LlmClientLive.js"
import * as Proposer from "../propose/Proposer.js"

/** The live services one run needs, built from its spec: the LLM proposer and the evaluator. */
export const layer = (spec: RunSpec, apiKey: Option.Option<Redacted.Redacted>) => {
  const config = spec.config
  const llm = LlmClientLive.layer(config.llm, apiKey).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const proposer = Proposer.layer({
    goal: config.goal,
    language: config.language ?? "text",
    editFormat: config.edit_format,
    maxCodeBytes: config.max_code_bytes
  }).pipe(Layer.provide(llm))
  const evaluator = CommandEvaluator.layer({
    command: config.evaluator.command ?? [spec.evaluatorPath],
    cwd: dirname(spec.evaluatorPath),
    timeoutMs: config.evaluator.timeout_seconds * 1000,
    killGraceMs: config.evaluator.kill_grace_seconds * 1000,
    outputCapBytes: config.evaluator.output_cap_bytes,
    primaryMetric: config.evaluator.primary_metric,
    keepArtifacts: config.evaluator.keep_artifacts
  }).pipe(Layer.provide(NodeContext.layer))
  return Layer.merge(proposer, evaluator)
}
