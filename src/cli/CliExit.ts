import * as Data from "effect/Data"

/** Ends the CLI with an exit code (the message, if any, was already printed). */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}
