/** What every group of the HTTP API shares: error bodies (small tagged errors, each with its status), counts, path and query parameters. */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Effect, Schema } from "effect"
import type { DatabaseError, ProgramNotFound, RunNotFound } from "../domain/Errors.js"
import type { RunConflict, SteeringInvalid } from "../engine/RunManager.js"

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

export const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

export const strict = { parseOptions: { onExcessProperty: "error" as const } }

/** An integer query parameter. */
export const IntFromString = (min: number, max: number) => Schema.NumberFromString.pipe(Schema.int(), Schema.between(min, max))

export const runId = HttpApiSchema.param("runId", Schema.String)
export const programId = HttpApiSchema.param("programId", Schema.String)

// ---- error translation ------------------------------------------------------------------------

type Known = DatabaseError | RunNotFound | ProgramNotFound | RunConflict | SteeringInvalid
type ApiErrorOf<E> = E extends DatabaseError ? StorageError
  : E extends SteeringInvalid ? InvalidRequest
  : E extends RunNotFound ? RunNotFoundError
  : E extends ProgramNotFound ? ProgramNotFoundError
  : E extends RunConflict ? RunStateConflict
  : E

const toApiError = (e: Known) => {
  switch (e._tag) {
    case "DatabaseError":
      return new StorageError({ message: e.message })
    case "RunNotFound":
      return new RunNotFoundError({ runId: e.runId, message: e.message })
    case "ProgramNotFound":
      return new ProgramNotFoundError({ programId: e.programId, message: e.message })
    case "RunConflict":
      return new RunStateConflict({ message: e.message })
    case "SteeringInvalid":
      return new InvalidRequest({ message: e.message })
  }
}

export const api = <A, E extends Known | InvalidRequest, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, ApiErrorOf<E>, R> =>
  Effect.mapError(effect, (e) => (e._tag === "InvalidRequest" ? e : toApiError(e))) as Effect.Effect<A, ApiErrorOf<E>, R>
