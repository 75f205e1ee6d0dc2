import { Data } from "effect"

/** Bad configuration or command line: the CLI exits with code 2 and prints `message`. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly message: string
  readonly file?: string | undefined
  readonly path?: string | undefined
}> {}

/** The database could not be opened, migrated or written: fatal for the run. */
export class DatabaseError extends Data.TaggedError("DatabaseError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

export class RunNotFound extends Data.TaggedError("RunNotFound")<{ readonly runId: string }> {
  override get message() {
    return `no run with id ${this.runId}`
  }
}

/** Another live process drives the run (it holds the run's lease). */
export class RunBusy extends Data.TaggedError("RunBusy")<{
  readonly runId: string
  /** Who holds it, e.g. "pid 4242 on host build-3". */
  readonly holder: string
  readonly heartbeatAgoMs: number
  readonly staleAfterMs: number
}> {
  override get message() {
    return `run ${this.runId} is being driven by ${this.holder} (last heartbeat ${
      Math.round(this.heartbeatAgoMs / 1000)
    } s ago): stop that process first; if it died on another host, its lease expires ${
      Math.round(this.staleAfterMs / 1000)
    } s after its last heartbeat`
  }
}

export class ProgramNotFound extends Data.TaggedError("ProgramNotFound")<{ readonly programId: string }> {
  override get message() {
    return `no program with id ${this.programId}`
  }
}

export type LlmErrorReason =
  | "rate_limited" // 429
  | "server" // 5xx, 408, 409
  | "timeout"
  | "connection"
  | "bad_request" // other 4xx: never retried
  | "malformed" // response not understood: never retried
  | "empty" // no choices / no text
  | "circuit_open"

export const retryableLlmReasons: ReadonlySet<LlmErrorReason> = new Set([
  "rate_limited",
  "server",
  "timeout",
  "connection"
])

/** A failed LLM call after its retries; `retryAfterMs` carries a server hint. */
export class LlmError extends Data.TaggedError("LlmError")<{
  readonly reason: LlmErrorReason
  readonly message: string
  readonly status?: number | undefined
  readonly retryAfterMs?: number | undefined
  readonly attempts?: number | undefined
}> {}

export type PatchErrorReason = "no_edits" | "no_match" | "outside_evolve_block" | "too_large" | "unchanged"

/** The model's answer could not be turned into a new program. */
export class PatchError extends Data.TaggedError("PatchError")<{
  readonly reason: PatchErrorReason
  readonly message: string
}> {}
