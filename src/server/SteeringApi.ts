/**
 * Steering a live run over HTTP (issue 17): one endpoint per action under /api/runs/{id}/…,
 * each the run's steering message (RunProtocol). A run that is not running answers 409; an
 * action the run refuses (an unknown program or hint, a duplicate program) answers 400.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { ProgramId } from "../domain/Ids.js"
import * as HumanDesk from "../llm/HumanDesk.js"
import { HintText, SteeringView } from "../domain/Steering.js"
import { InvalidRequest, RunNotFoundError, runId, RunStateConflict, StorageError, strict } from "./ApiCommon.js"

export const Steering = SteeringView.annotations({
  identifier: "Steering",
  description: "A run's guidance (every hint, oldest first, with when it left the guidance), pinned and banned parents, model weights"
})

export const HintRequest = Schema.Struct({
  text: HintText,
  replace: Schema.optional(Schema.Boolean.annotations({ description: "Clear the guidance in force first" }))
}).annotations({ ...strict, identifier: "HintRequest" })

export const PinRequest = Schema.Struct({
  programIds: Schema.NonEmptyArray(ProgramId).annotations({ description: "Scored programs of the run; parents come only from them" })
}).annotations({ ...strict, identifier: "PinRequest" })

export const BanRequest = Schema.Struct({ programId: ProgramId }).annotations({ ...strict, identifier: "BanRequest" })

export const InjectRequest = Schema.Struct({
  code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1_000_000)),
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(1000)))
}).annotations({ ...strict, identifier: "InjectRequest" })

export const InjectResult = Schema.Struct({ programId: Schema.String, steering: Steering }).annotations({ identifier: "InjectResult" })

export const ModelWeightRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.minLength(1)),
  weight: Schema.Number.pipe(Schema.nonNegative(), Schema.finite())
}).annotations({ ...strict, identifier: "ModelWeightRequest" })

export const ConcurrencyRequest = Schema.Struct({
  proposals: Schema.optional(Schema.Int.pipe(Schema.between(1, 4096))),
  evaluations: Schema.optional(Schema.Int.pipe(Schema.between(1, 4096)))
}).annotations({ ...strict, identifier: "ConcurrencyRequest" })

export const Concurrency = Schema.Struct({ proposals: Schema.Int, evaluations: Schema.Int }).annotations({ identifier: "Concurrency" })

export const HumanPrompt = HumanDesk.HumanPrompt.annotations({ identifier: "HumanPrompt", description: "A prompt to a `human` model, waiting for a person's answer" })

export const AnswerRequest = Schema.Struct({
  text: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1_000_000)).annotations({
    description: "The answer as a model would give it: SEARCH/REPLACE blocks, or the whole program in a fenced code block"
  })
}).annotations({ ...strict, identifier: "AnswerRequest" })

export class PromptNotFound extends Schema.TaggedError<PromptNotFound>()(
  "PromptNotFound",
  { promptId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No prompt with this id waits for an answer" })
) {}

const promptId = HttpApiSchema.param("promptId", Schema.String)

const version = HttpApiSchema.param("version", Schema.NumberFromString.pipe(Schema.int(), Schema.positive()))

export class SteeringGroup extends HttpApiGroup.make("steering")
  .add(
    HttpApiEndpoint.get("getSteering")`/runs/${runId}/steering`
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "The run's steering: live while it runs, else as its stored actions left it")
  )
  .add(
    HttpApiEndpoint.post("addHint")`/runs/${runId}/hints`
      .setPayload(HintRequest)
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Guidance for every later prompt (a new version; `replace` clears the guidance in force first)")
  )
  .add(
    HttpApiEndpoint.del("clearHint")`/runs/${runId}/hints/${version}`
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Take a hint out of the guidance (it stays in the history)")
  )
  .add(
    HttpApiEndpoint.post("pin")`/runs/${runId}/pin`
      .setPayload(PinRequest)
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Parents only from these programs until unpinned")
  )
  .add(
    HttpApiEndpoint.post("unpin")`/runs/${runId}/unpin`
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Parents from the whole population again")
  )
  .add(
    HttpApiEndpoint.post("ban")`/runs/${runId}/ban`
      .setPayload(BanRequest)
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "Never a parent again")
  )
  .add(
    HttpApiEndpoint.post("inject")`/runs/${runId}/inject`
      .setPayload(InjectRequest)
      .addSuccess(InjectResult, { status: 201 })
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "A hand-written candidate: evaluated next like any other, its lineage marked human")
  )
  .add(
    HttpApiEndpoint.post("setModelWeight")`/runs/${runId}/model-weight`
      .setPayload(ModelWeightRequest)
      .addSuccess(Steering)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "A model's share of later proposals (0: not used while another model has weight)")
  )
  .add(
    HttpApiEndpoint.post("setConcurrency")`/runs/${runId}/concurrency`
      .setPayload(ConcurrencyRequest)
      .addSuccess(Concurrency)
      .addError(RunNotFoundError)
      .addError(RunStateConflict)
      .addError(InvalidRequest)
      .annotate(OpenApi.Description, "How many proposals (LLM calls) and evaluations the run keeps in flight")
  )
  .add(
    HttpApiEndpoint.get("listPrompts")`/runs/${runId}/prompts`
      .addSuccess(Schema.Array(HumanPrompt))
      .addError(RunNotFoundError)
      .annotate(OpenApi.Description, "Prompts of the run's `human` models waiting for a person's answer (provider: human)")
  )
  .add(
    HttpApiEndpoint.post("answerPrompt")`/prompts/${promptId}/answer`
      .setPayload(AnswerRequest)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(PromptNotFound)
      .annotate(OpenApi.Description, "Answer a waiting prompt; the answer is applied and evaluated like a model's")
  )
  .addError(StorageError)
  .prefix("/api")
{}
