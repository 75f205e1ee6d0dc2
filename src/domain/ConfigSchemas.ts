/** Schema pieces shared by the config sections (RunConfig.ts, LlmConfig.ts). */
import { type ParseResult, Schema } from "effect"

/** "expected …, got …" for refinements, so config errors say what was given. */
export const expected = (what: string) => (issue: ParseResult.ParseIssue) =>
  `expected ${what}, got ${JSON.stringify(issue.actual)}`

export const PositiveInt = (max: number) =>
  Schema.Int.pipe(Schema.between(1, max, { message: expected(`an integer from 1 to ${max}`) }))
export const PositiveNumber = Schema.Number.pipe(
  Schema.positive({ message: expected("a positive number") }),
  Schema.finite({ message: expected("a finite number") })
)
export const NonNegativeNumber = Schema.Number.pipe(
  Schema.nonNegative({ message: expected("a number ≥ 0") }),
  Schema.finite({ message: expected("a finite number") })
)
export const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: expected("a non-empty string") }))
export const EnvName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: expected("an environment variable name") })
)
export const EnvPattern = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_*?]+$/, { message: expected("a variable name, or a glob of * and ?") })
)
export const Fraction = Schema.Number.pipe(Schema.between(0, 1, { message: expected("a number from 0 to 1") }))
export const NonNegativeInt = (max: number) =>
  Schema.Int.pipe(Schema.between(0, max, { message: expected(`an integer from 0 to ${max}`) }))
