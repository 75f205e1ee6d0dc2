import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { parseLine } from "../../src/evaluate/PythonWorkerProtocol.js"
import { mutatedTexts } from "../support/jsonMutations.js"

// The protocol's messages as a schema: the specification the hand-written decoder must match.
const Ending = Schema.Union(Schema.Struct({ code: Schema.Number }), Schema.Struct({ signal: Schema.String }))
const Done = Schema.Struct({
  type: Schema.Literal("done"),
  id: Schema.String,
  exit: Ending,
  result: Schema.Unknown,
  result_error: Schema.NullOr(Schema.String),
  stdout: Schema.String,
  stderr: Schema.String,
  overflow: Schema.NullOr(Schema.Literal("stdout", "stderr", "result")),
  leftover: Schema.Number,
  files: Schema.Record({
    key: Schema.String,
    value: Schema.Union(Schema.String, Schema.Null, Schema.Struct({ too_big: Schema.Number }), Schema.Struct({ refused: Schema.String }))
  })
})
const WorkerMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("ready"), pid: Schema.Number, python: Schema.String }),
  Schema.Struct({ type: Schema.Literal("load_error"), error: Schema.String }),
  Schema.Struct({ type: Schema.Literal("started"), id: Schema.String, pid: Schema.Number }),
  Done,
  Schema.Struct({ type: Schema.Literal("setup_error"), id: Schema.String, error: Schema.String })
)
const reference = (line: string) => {
  const decoded = Schema.decodeUnknownEither(Schema.parseJson(WorkerMessage))(line)
  return Either.isRight(decoded) ? decoded.right : undefined
}

const messages: ReadonlyArray<unknown> = [
  { type: "ready", pid: 41, python: "3.11.2" },
  { type: "load_error", error: "ModuleNotFoundError: No module named 'numpy'" },
  { type: "started", id: "c-1", pid: 4242 },
  { type: "setup_error", id: "c-2", error: "cannot create /tmp/x" },
  {
    type: "done",
    id: "c-3",
    exit: { code: 0 },
    result: { combined_score: 0.5, nested: [1, { a: null }] },
    result_error: null,
    stdout: "score 0.5\n",
    stderr: "",
    overflow: null,
    leftover: 0,
    files: { "metrics.json": "{\"x\": 1}", "missing.json": null, "big.json": { too_big: 99_999_999 }, "fifo": { refused: "a FIFO" } }
  },
  {
    type: "done",
    id: "c-4",
    exit: { signal: "SIGKILL" },
    result: null,
    result_error: "the child wrote no result",
    stdout: "",
    stderr: "Traceback…",
    overflow: "stderr",
    leftover: 2,
    files: {}
  }
]

describe("PythonWorkerProtocol.parseLine", () => {
  it("decodes every message as its schema does", () => {
    for (const message of messages) {
      const line = JSON.stringify(message)
      expect(parseLine(line)).toEqual(reference(line))
      expect(parseLine(line)).toBeDefined()
    }
  })

  it("rejects and strips exactly what the schema does, on 10,000 mutated messages", () => {
    let rejected = 0
    for (const line of mutatedTexts(messages, 7, 10_000)) {
      const expected = reference(line)
      if (expected === undefined) rejected++
      expect(parseLine(line), line).toEqual(expected)
    }
    // The mutations must exercise both outcomes.
    expect(rejected).toBeGreaterThan(1_000)
    expect(rejected).toBeLessThan(9_000)
  })

  it("is undefined for a line that is not JSON, or not an object", () => {
    for (const line of ["", "not json", "[1,2]", "null", "\"done\"", "{\"type\": \"done\"", "42"]) {
      expect(parseLine(line)).toBeUndefined()
    }
  })
})
