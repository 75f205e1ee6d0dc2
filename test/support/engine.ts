/** What a run needs besides its proposer, evaluator and database, for tests that bring those. */
import { Effect, Layer } from "effect"
import * as EvaluationDispatch from "../../src/engine/EvaluationDispatch.js"
import * as RunActor from "../../src/engine/RunActor.js"
import * as RunLimits from "../../src/engine/RunLimits.js"
import { fromComplete, LlmClient } from "../../src/llm/LlmClient.js"

/** No shared limits, and an LLM client for the engine's bandit and cost estimates only. */
export const runDefaults = Layer.merge(
  RunLimits.unlimited,
  Layer.succeed(LlmClient, fromComplete("test", () => Effect.dieMessage("this test's proposer calls no LLM client")))
)

/** A run with its evaluations in this process (what startRun does by default), for tests that start the actor directly. */
export const startLocal = (options: RunActor.StartOptions) =>
  RunActor.start(options).pipe(Effect.provide(EvaluationDispatch.local))
