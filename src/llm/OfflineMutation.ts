/**
 * The offline mutator's edit of a program: one to three operator draws (MutationOperators) on
 * editable lines — inside EVOLVE-BLOCK regions when the program has them, else anywhere — and
 * the SEARCH/REPLACE blocks that turn the program into the mutated one, each SEARCH grown with
 * context until it occurs once.
 */
import { Effect } from "effect"
import { blocksOfLines } from "../domain/EvolveBlocks.js"
import { commentStyle, isCommentLine, maskLine } from "./CodeMask.js"
import {
  COMPARE_RE,
  flipComparison,
  flipPlusMinus,
  hasMatch,
  isSimpleStatement,
  jumpNumber,
  literalsOf,
  NUMBER_RE,
  perturbNumber,
  pick,
  pickWeighted,
  PLUS_MINUS_RE
} from "./MutationOperators.js"

interface Span {
  readonly from: number // first editable line
  readonly to: number // last editable line (inclusive)
  readonly anchorFrom: number // lines usable as SEARCH context (marker lines included)
  readonly anchorTo: number
}

/** The non-empty EVOLVE-BLOCK interiors; the whole program when it has no region. */
const editableSpans = (lines: ReadonlyArray<string>): Array<Span> => {
  const regions = blocksOfLines(lines)
  if (regions.length === 0) return [{ from: 0, to: lines.length - 1, anchorFrom: 0, anchorTo: lines.length - 1 }]
  return regions
    .filter((r) => r.endLine > r.startLine + 1)
    .map((r) => ({ from: r.startLine + 1, to: r.endLine - 1, anchorFrom: r.startLine, anchorTo: Math.min(r.endLine, lines.length - 1) }))
}

interface Change {
  readonly lines: ReadonlyArray<number>
  readonly note: string
}

/** Whole-line matches of `search` in `lines`. */
const occurrences = (lines: ReadonlyArray<string>, from: number, to: number) => {
  const n = to - from + 1
  const hits: Array<number> = []
  for (let at = 0; at + n <= lines.length; at++) {
    let ok = true
    for (let k = 0; k < n && ok; k++) ok = lines[at + k] === lines[from + k]
    if (ok) hits.push(at)
  }
  return hits
}

/** Grows [from, to] with context lines (inside `span`'s anchors) until it occurs only once. */
const uniqueRange = (lines: ReadonlyArray<string>, from: number, to: number, span: Span) => {
  let a = from
  let b = to
  let up = true
  while (occurrences(lines, a, b).length > 1 || lines.slice(a, b + 1).every((l) => l.trim() === "")) {
    const canUp = a > span.anchorFrom
    const canDown = b < span.anchorTo
    if (!canUp && !canDown) break
    if ((up && canUp) || !canDown) a--
    else b++
    up = !up
  }
  return [a, b] as const
}

/**
 * The mutation notes and SEARCH/REPLACE blocks of one draw; null when nothing could change.
 * `boldness` (adaptive search): 1..3, an exploring island: more changes, wider numeric steps;
 * 4, a paradigm shift: every numeric literal of the editable code jumps. 0 draws as always.
 */
export const mutate = (code: string, info: string, inspirations: ReadonlyArray<string>, boldness = 0) =>
  Effect.gen(function*() {
    const lines = code.split("\n")
    const style = commentStyle(info, code)
    const spans = editableSpans(lines)
    const editable = spans.flatMap((s) => {
      const out: Array<number> = []
      for (let i = s.from; i <= s.to; i++) if (lines[i]!.trim() !== "" && !isCommentLine(lines[i]!)) out.push(i)
      return out
    })
    const spanOf = (i: number) => spans.find((s) => s.from <= i && i <= s.to)!
    const work = [...lines]
    const changes: Array<Change> = []
    const touched = new Set<number>()

    if (boldness >= 4) {
      // Right to left on each line, so the earlier literals' positions stay valid.
      const lits = literalsOf(work, editable, style).filter((l) => l.weight > 0.05).sort((a, b) => a.line - b.line || b.start - a.start)
      for (const lit of lits.slice(0, 32)) {
        const text = yield* jumpNumber(lit.text)
        if (text === null) continue
        const line = work[lit.line]!
        work[lit.line] = line.slice(0, lit.start) + text + line.slice(lit.start + lit.text.length)
        changes.push({ lines: [lit.line], note: `${lit.text} → ${text} (line ${lit.line + 1}, a new start)` })
      }
    }
    const count = boldness >= 4 ? 0 : (yield* pickWeighted([1, 2, 3], (k) => (k === 1 ? 0.65 : k === 2 ? 0.25 : 0.1))) + boldness
    for (let attempt = 0; changes.length < count && attempt < count * 6; attempt++) {
      const free = editable.filter((i) => !touched.has(i))
      if (free.length === 0) break
      const op = yield* pickWeighted(
        ["number", "crossover", "compare", "plusminus", "swap"] as const,
        (o) => ({ number: 0.8, crossover: inspirations.length > 0 ? 0.12 : 0, compare: 0.025, plusminus: 0.02, swap: 0.035 })[o]
      )
      if (op === "number") {
        const lits = literalsOf(work, free, style)
        if (lits.length === 0) continue
        const lit = yield* pickWeighted(lits, (l) => l.weight)
        const text = yield* perturbNumber(lit.text, 1 + boldness)
        if (text === null) continue
        const line = work[lit.line]!
        work[lit.line] = line.slice(0, lit.start) + text + line.slice(lit.start + lit.text.length)
        changes.push({ lines: [lit.line], note: `${lit.text} → ${text} (line ${lit.line + 1})` })
        touched.add(lit.line)
      } else if (op === "crossover") {
        const donor = (yield* pick(inspirations)).split("\n")
        const skeleton = (l: string) => l.replace(NUMBER_RE, "#")
        const candidates = free.filter((i) => {
          const same = donor.filter((d) => skeleton(d) === skeleton(work[i]!))
          return same.length === 1 && same[0] !== work[i] && /\d/.test(work[i]!)
        })
        if (candidates.length === 0) continue
        const i = yield* pick(candidates)
        const from = work[i]!
        work[i] = donor.find((d) => skeleton(d) === skeleton(from))!
        changes.push({ lines: [i], note: `constants from another program (line ${i + 1})` })
        touched.add(i)
      } else if (op === "compare" || op === "plusminus") {
        const candidates = free.filter((i) => {
          const masked = maskLine(work[i]!, style)
          return hasMatch(op === "compare" ? COMPARE_RE : PLUS_MINUS_RE, masked)
        })
        if (candidates.length === 0) continue
        const i = yield* pick(candidates)
        const r = op === "compare"
          ? yield* flipComparison(work[i]!, maskLine(work[i]!, style))
          : yield* flipPlusMinus(work[i]!, maskLine(work[i]!, style))
        if (r === null) continue
        work[i] = r.line
        changes.push({ lines: [i], note: `${r.note} (line ${i + 1})` })
        touched.add(i)
      } else {
        const pairs = free.filter((i) => {
          const j = i + 1
          if (!free.includes(j) || spanOf(i) !== spanOf(j)) return false
          const a = work[i]!
          const b = work[j]!
          const indent = (l: string) => /^[ \t]*/.exec(l)![0]
          const after = work[j + 1]
          return a !== b && indent(a) === indent(b) && isSimpleStatement(a, maskLine(a, style)) &&
            isSimpleStatement(b, maskLine(b, style)) && (after === undefined || indent(after).length <= indent(b).length)
        })
        if (pairs.length === 0) continue
        const i = yield* pick(pairs)
        const tmp = work[i]!
        work[i] = work[i + 1]!
        work[i + 1] = tmp
        changes.push({ lines: [i, i + 1], note: `swap lines ${i + 1} and ${i + 2}` })
        touched.add(i)
        touched.add(i + 1)
      }
    }
    if (changes.length === 0) return null

    // One SEARCH/REPLACE block per cluster of nearby changed lines, top to bottom. Every
    // operator keeps the line count, so line numbers stay valid as blocks are applied in order.
    const changed = [...new Set(changes.flatMap((c) => c.lines))].sort((a, b) => a - b)
    const clusters: Array<[number, number]> = []
    for (const i of changed) {
      const last = clusters[clusters.length - 1]
      if (last && i - last[1] <= 2 && spanOf(i) === spanOf(last[0])) last[1] = i
      else clusters.push([i, i])
    }
    const current = [...lines]
    const blocks: Array<string> = []
    for (const [from, to] of clusters) {
      const [a, b] = uniqueRange(current, from, to, spanOf(from))
      const search = current.slice(a, b + 1)
      const replace = work.slice(a, b + 1)
      for (let k = a; k <= b; k++) current[k] = work[k]!
      blocks.push(`<<<<<<< SEARCH\n${search.join("\n")}\n=======\n${replace.join("\n")}\n>>>>>>> REPLACE`)
    }
    return { notes: changes.map((c) => c.note), blocks }
  })
