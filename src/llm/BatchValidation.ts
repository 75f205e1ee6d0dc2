/**
 * Validators of llmBatch replies: a reply failing its validator is an "invalid_output" result,
 * never retried. A validator may be synchronous, return a Promise or an Effect.
 */
import { Either, type Effect } from "effect"
import * as CodeFences from "../domain/CodeFences.js"
import { definesSymbol } from "../domain/Symbols.js"

/** `true`, `undefined` or nothing: valid. `false`: invalid. A string: invalid, with that reason. */
export type ValidationVerdict = boolean | string | undefined | void

export interface ValidationContext {
  readonly index: number
  readonly model: string
}

export type Validator = (
  text: string,
  context: ValidationContext
) => ValidationVerdict | PromiseLike<ValidationVerdict> | Effect.Effect<ValidationVerdict, unknown, never>

/** The code of a reply: its longest fenced code block, else the whole text. */
export const extractCode = (text: string): { readonly code: string; readonly language: string } => {
  const blocks = CodeFences.parse(text).blocks
  if (blocks.length === 0) return { code: text, language: "" }
  const longest = blocks.reduce((a, b) => (b.code.length > a.code.length ? b : a))
  return { code: longest.code, language: longest.info }
}

/** A validator: the reply's code must define `name` (e.g. "execute_trade"), by the rule of a run's required symbols. */
export const requireSymbol = (name: string): Validator => (text) =>
  definesSymbol(extractCode(text).code, name) ? true : `the response does not define ${name}`

/** The message of a thrown value or failure. */
export const describe = (u: unknown): string => (u instanceof Error ? u.message : typeof u === "string" ? u : String(u))

/** Why a reply is invalid, from its validator's verdict or failure; undefined when it is valid. */
export const invalidReason = (verdict: Either.Either<ValidationVerdict, unknown>): string | undefined =>
  Either.isLeft(verdict)
    ? `validator failed: ${describe(verdict.left)}`
    : verdict.right === false
    ? "the response failed validation"
    : typeof verdict.right === "string"
    ? verdict.right
    : undefined
