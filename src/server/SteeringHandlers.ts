/** The steering endpoints (SteeringApi): each action goes to the run through the RunManager. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Option } from "effect"
import type { SteerAction } from "../domain/Steering.js"
import { RunManager } from "../engine/RunManager.js"
import { EvolveApi } from "./Api.js"
import { api } from "./ApiCommon.js"
import { PromptNotFound } from "./SteeringApi.js"

export const SteeringLive = HttpApiBuilder.group(EvolveApi, "steering", (handlers) =>
  Effect.gen(function*() {
    const manager = yield* RunManager
    const steer = (runId: string, action: SteerAction) => api(Effect.map(manager.steer(runId, action), (r) => r.steering))
    return handlers
      .handle("getSteering", ({ path }) => api(manager.steering(path.runId)))
      .handle("addHint", ({ path, payload }) => steer(path.runId, { _tag: "AddHint", ...payload }))
      .handle("clearHint", ({ path }) => steer(path.runId, { _tag: "ClearHint", version: path.version }))
      .handle("pin", ({ path, payload }) => steer(path.runId, { _tag: "Pin", ...payload }))
      .handle("unpin", ({ path }) => steer(path.runId, { _tag: "Unpin" }))
      .handle("ban", ({ path, payload }) => steer(path.runId, { _tag: "Ban", ...payload }))
      .handle("inject", ({ path, payload }) =>
        api(Effect.map(manager.steer(path.runId, { _tag: "Inject", ...payload }), (r) => ({ programId: r.programId!, steering: r.steering }))))
      .handle("setModelWeight", ({ path, payload }) => steer(path.runId, { _tag: "SetModelWeight", ...payload }))
      .handle("setConcurrency", ({ path, payload }) =>
        api(Effect.map(manager.setConcurrency(path.runId, payload), (info) =>
          Option.match(info.live, {
            onNone: () => ({ proposals: info.overview.spec.config.concurrency.proposals, evaluations: info.overview.spec.config.concurrency.evaluations }),
            onSome: (live) => live.concurrency
          }))))
      .handle("listPrompts", ({ path }) => api(manager.prompts(path.runId)))
      .handle("answerPrompt", ({ path, payload }) =>
        Effect.flatMap(manager.answer(path.promptId, payload.text), (answered) =>
          answered
            ? Effect.void
            : new PromptNotFound({ promptId: path.promptId, message: `no prompt ${path.promptId} waits for an answer (answered already, or its run stopped)` })))
  }))
