/**
 * The messages of the warm Python worker's protocol (see src/evaluate/embedded/evolve_worker.py),
 * decoded from the lines of its protocol pipe.
 */
import { type Either, Schema } from "effect"

const Ending = Schema.Union(Schema.Struct({ code: Schema.Number }), Schema.Struct({ signal: Schema.String }))
export type Ending = typeof Ending.Type

const Ready = Schema.Struct({ type: Schema.Literal("ready"), pid: Schema.Number, python: Schema.String })
const LoadError = Schema.Struct({ type: Schema.Literal("load_error"), error: Schema.String })
const Started = Schema.Struct({ type: Schema.Literal("started"), id: Schema.String, pid: Schema.Number })
export const Done = Schema.Struct({
  type: Schema.Literal("done"),
  id: Schema.String,
  exit: Ending,
  /** What the child reported over its pipe (contract-specific), null when it reported nothing. */
  result: Schema.Unknown,
  result_error: Schema.NullOr(Schema.String),
  stdout: Schema.String,
  stderr: Schema.String,
  overflow: Schema.NullOr(Schema.Literal("stdout", "stderr", "result")),
  /** Processes still alive below the worker after the child ended (killed by the worker). */
  leftover: Schema.Number,
  /**
   * The job's `collect` files from its results dir: text, null when missing, too big, or refused
   * (not a regular file: a FIFO, a symlink, a device…; `refused` says which).
   */
  files: Schema.Record({
    key: Schema.String,
    value: Schema.Union(
      Schema.String,
      Schema.Null,
      Schema.Struct({ too_big: Schema.Number }),
      Schema.Struct({ refused: Schema.String })
    )
  })
})
export type Done = typeof Done.Type

const SetupError = Schema.Struct({ type: Schema.Literal("setup_error"), id: Schema.String, error: Schema.String })
const WorkerMessage = Schema.Union(Ready, LoadError, Started, Done, SetupError)
export type WorkerMessage = typeof WorkerMessage.Type
/** One decoder per message type: cheaper than trying every member of the union. */
const decoders: Record<string, (input: unknown) => Either.Either<WorkerMessage, unknown>> = {
  ready: Schema.decodeUnknownEither(Ready),
  load_error: Schema.decodeUnknownEither(LoadError),
  started: Schema.decodeUnknownEither(Started),
  done: Schema.decodeUnknownEither(Done),
  setup_error: Schema.decodeUnknownEither(SetupError)
}

/** A line of the protocol pipe as a message; undefined when it is not one. */
export const parseLine = (line: string): WorkerMessage | undefined => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return undefined
  }
  const type = typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined
  const decode = typeof type === "string" && Object.hasOwn(decoders, type) ? decoders[type] : undefined
  const decoded = decode?.(json)
  return decoded?._tag === "Right" ? decoded.right : undefined
}
