/**
 * What the population knows about a scored program besides its score: the values of the
 * MAP-Elites feature dimensions and of the objectives (multi-objective runs). Computed once,
 * when the program's evaluation is committed, and stored with it (`programs.descriptor`), so a
 * resumed run never recomputes them.
 */
import { diffArrays } from "diff"
import type { Metrics } from "../domain/Program.js"

export interface Descriptor {
  /** Raw feature values, aligned with the configured MAP-Elites features (NaN: not available). */
  readonly features?: ReadonlyArray<number> | undefined
  /** Raw objective values, aligned with the configured objectives (NaN: not reported). */
  readonly objectives?: ReadonlyArray<number> | undefined
}

/** Built-in feature names; any other name is read from the evaluator's metrics. */
export const CODE_LENGTH = "code_length"
export const EDIT_DISTANCE = "edit_distance"

const TOKEN_RE = /[A-Za-z_$][\w$]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\S/g

export const tokenize = (code: string): Array<string> => code.match(TOKEN_RE) ?? []

/** Past this many token edits the exact distance stops mattering: the programs are far apart. */
const MAX_EDITS = 400

/**
 * Token-level edit distance (insertions + deletions of identifiers, numbers and punctuation;
 * whitespace and layout ignored), Myers diff capped at {@link MAX_EDITS} edits so it stays cheap.
 */
export const editDistance = (a: string, b: string): number => {
  if (a === b) return 0
  const ta = tokenize(a)
  const tb = tokenize(b)
  const parts = diffArrays(ta, tb, { maxEditLength: MAX_EDITS })
  if (parts === undefined) return Math.max(MAX_EDITS, Math.abs(ta.length - tb.length))
  let d = 0
  for (const part of parts) if (part.added || part.removed) d += part.count ?? part.value.length
  return d
}

/** Mean edit distance from `code` to the reference programs (0 when there are none). */
export const meanEditDistance = (code: string, references: ReadonlyArray<string>): number => {
  if (references.length === 0) return 0
  let total = 0
  for (const ref of references) total += editDistance(code, ref)
  return total / references.length
}

export interface DescribeInput {
  readonly code: string
  readonly metrics: Metrics
  /** Codes of the island's best programs, for `edit_distance`. */
  readonly references: ReadonlyArray<string>
}

/** The descriptor of a program for the given feature names and objective metrics. */
export const describe = (
  input: DescribeInput,
  featureNames: ReadonlyArray<string>,
  objectiveMetrics: ReadonlyArray<string>
): Descriptor => {
  const value = (name: string) => {
    const v = input.metrics[name]
    return typeof v === "number" && Number.isFinite(v) ? v : Number.NaN
  }
  const features = featureNames.map((name) =>
    name === CODE_LENGTH
      ? input.code.length
      : name === EDIT_DISTANCE
      ? meanEditDistance(input.code, input.references)
      : value(name)
  )
  return {
    ...(featureNames.length > 0 ? { features } : {}),
    ...(objectiveMetrics.length > 0 ? { objectives: objectiveMetrics.map(value) } : {})
  }
}

/** JSON for the database: NaN (not representable in JSON) becomes null and back. */
export const encodeDescriptor = (d: Descriptor): string =>
  JSON.stringify({
    ...(d.features ? { f: d.features.map((x) => (Number.isFinite(x) ? x : null)) } : {}),
    ...(d.objectives ? { o: d.objectives.map((x) => (Number.isFinite(x) ? x : null)) } : {})
  })

export const decodeDescriptor = (text: string): Descriptor => {
  const raw = JSON.parse(text) as { f?: ReadonlyArray<number | null>; o?: ReadonlyArray<number | null> }
  const num = (x: number | null) => (x === null ? Number.NaN : x)
  return {
    ...(raw.f ? { features: raw.f.map(num) } : {}),
    ...(raw.o ? { objectives: raw.o.map(num) } : {})
  }
}
