/**
 * The messages of the warm Python worker's protocol (see src/evaluate/embedded/evolve_worker.py),
 * decoded from the lines of its protocol pipe.
 *
 * Decoded by hand rather than with Schema: a line is decoded per candidate in code that runs too
 * seldom for V8 to optimize, where Schema's generic decoder cost ~0.1 ms a line (profiled on the
 * warm workload). test/evaluate/PythonWorkerProtocol.test.ts holds the messages' schema and checks
 * this decoder against it.
 */
import { isNumber, isRecord, isString } from "effect/Predicate"

export type Ending = { readonly code: number } | { readonly signal: string }

/** A `collect` file: its text, null when missing, or why it was not read. */
export type CollectedFile = string | null | { readonly too_big: number } | { readonly refused: string }

export interface Done {
  readonly type: "done"
  readonly id: string
  readonly exit: Ending
  /** What the child reported over its pipe (contract-specific), null when it reported nothing. */
  readonly result: unknown
  readonly result_error: string | null
  readonly stdout: string
  readonly stderr: string
  readonly overflow: "stdout" | "stderr" | "result" | null
  /** Processes still alive below the worker after the child ended (killed by the worker). */
  readonly leftover: number
  /**
   * The job's `collect` files from its results dir: text, null when missing, too big, or refused
   * (not a regular file: a FIFO, a symlink, a device…; `refused` says which).
   */
  readonly files: Readonly<Record<string, CollectedFile>>
}

export type WorkerMessage =
  | { readonly type: "ready"; readonly pid: number; readonly python: string }
  | { readonly type: "load_error"; readonly error: string }
  | { readonly type: "started"; readonly id: string; readonly pid: number }
  | Done
  | { readonly type: "setup_error"; readonly id: string; readonly error: string }

type Fields = Record<string, unknown>

const ending = (u: unknown): Ending | undefined => {
  if (!isRecord(u)) return undefined
  if (isNumber(u["code"])) return { code: u["code"] }
  if (isString(u["signal"])) return { signal: u["signal"] }
  return undefined
}

const collected = (u: unknown): CollectedFile | undefined => {
  if (u === null || isString(u)) return u
  if (!isRecord(u)) return undefined
  if (isNumber(u["too_big"])) return { too_big: u["too_big"] }
  if (isString(u["refused"])) return { refused: u["refused"] }
  return undefined
}

const files = (u: unknown): Record<string, CollectedFile> | undefined => {
  if (!isRecord(u)) return undefined
  const out: Record<string, CollectedFile> = {}
  for (const key of Object.keys(u)) {
    const file = collected(u[key])
    if (file === undefined) return undefined
    out[key] = file
  }
  return out
}

const done = (m: Fields): Done | undefined => {
  const exit = ending(m["exit"])
  const collectedFiles = files(m["files"])
  const resultError = m["result_error"]
  const overflow = m["overflow"]
  if (
    !isString(m["id"]) || exit === undefined || !(resultError === null || isString(resultError)) ||
    !isString(m["stdout"]) || !isString(m["stderr"]) || !isNumber(m["leftover"]) || collectedFiles === undefined ||
    !(overflow === null || overflow === "stdout" || overflow === "stderr" || overflow === "result")
  ) return undefined
  return {
    type: "done",
    id: m["id"],
    exit,
    result: m["result"],
    result_error: resultError,
    stdout: m["stdout"],
    stderr: m["stderr"],
    overflow,
    leftover: m["leftover"],
    files: collectedFiles
  }
}

const decode = (m: Fields): WorkerMessage | undefined => {
  switch (m["type"]) {
    case "done":
      return done(m)
    case "started":
      return isString(m["id"]) && isNumber(m["pid"]) ? { type: "started", id: m["id"], pid: m["pid"] } : undefined
    case "ready":
      return isNumber(m["pid"]) && isString(m["python"]) ? { type: "ready", pid: m["pid"], python: m["python"] } : undefined
    case "load_error":
      return isString(m["error"]) ? { type: "load_error", error: m["error"] } : undefined
    case "setup_error":
      return isString(m["id"]) && isString(m["error"]) ? { type: "setup_error", id: m["id"], error: m["error"] } : undefined
    default:
      return undefined
  }
}

/** A line of the protocol pipe as a message; undefined when it is not one. */
export const parseLine = (line: string): WorkerMessage | undefined => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return undefined
  }
  return isRecord(json) ? decode(json) : undefined
}
