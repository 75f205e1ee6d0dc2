/**
 * The "offline" provider: a deterministic mutator behind @effect/ai's `LanguageModel`, with no
 * network. It reads the current program (the last fenced code block of the last user message),
 * mutates it, and answers with SEARCH/REPLACE blocks that `Edits.applyResponse` applies.
 *
 * Mutations stay inside EVOLVE-BLOCK regions when the program has them. Mostly numeric tuning:
 * a numeric literal is scaled by a log-normal factor (decay-like constants in (0.5, 1) are often
 * tuned through 1 − x instead, integers stay integral, formatting is kept); sometimes constants
 * are copied from an inspiration program's matching line (crossover); rarely `<`/`<=` or
 * binary `+`/`-` flip, or two adjacent simple statements swap.
 *
 * All randomness comes from Effect's `Random` service: the run seeds it, so a run is
 * reproducible. Token usage is estimated as characters / 4.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { Effect, Layer, Random, Stream } from "effect"
import * as CodeFences from "../domain/CodeFences.js"

// ---------------------------------------------------------------------------------------------
// Reading the prompt
// ---------------------------------------------------------------------------------------------

const messageText = (message: Prompt.Message): string => {
  if (typeof message.content === "string") return message.content
  return message.content.map((part) => (part.type === "text" ? part.text : "")).join("\n")
}

const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]!
    if (message.role === "user") return messageText(message)
  }
  return ""
}

/** The complete fenced code blocks of a text, in order. */
export const codeBlocks = (text: string): Array<CodeFences.CodeBlock> => CodeFences.parse(text).blocks

// ---------------------------------------------------------------------------------------------
// Lexing lines: where code is (not strings, not comments)
// ---------------------------------------------------------------------------------------------

type CommentStyle = "hash" | "slash" | "dash"

const HASH_LANGS = new Set(["python", "py", "python3", "ruby", "rb", "sh", "bash", "r", "julia", "jl", "perl", "nim", "crystal"])
const DASH_LANGS = new Set(["sql", "lua", "haskell", "hs", "elm", "ada"])

const commentStyle = (info: string, code: string): CommentStyle => {
  if (HASH_LANGS.has(info)) return "hash"
  if (DASH_LANGS.has(info)) return "dash"
  if (info !== "") return "slash"
  return /^\s*(def|import|from)\s/m.test(code) && !/[{};]\s*$/m.test(code) ? "hash" : "slash"
}

/** The line with string literals and comments blanked out (same length), so regexes see only code. */
const maskLine = (line: string, style: CommentStyle): string => {
  let out = ""
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== null) {
      if (c === "\\") {
        out += "  "
        i++
        continue
      }
      if (c === quote) quote = null
      out += " "
      continue
    }
    if (c === "\"" || c === "'" || c === "`") {
      quote = c
      out += " "
      continue
    }
    const rest = line.slice(i)
    if (
      (style === "hash" && c === "#") ||
      (style === "slash" && (rest.startsWith("//") || rest.startsWith("/*"))) ||
      (style === "dash" && rest.startsWith("--"))
    ) {
      return out + " ".repeat(line.length - i)
    }
    out += c
  }
  return out
}

const isCommentLine = (line: string): boolean => /^\s*(#|\/\/|\/\*|\*|--|<!--)/.test(line)

// ---------------------------------------------------------------------------------------------
// EVOLVE-BLOCK regions (same marker rules as src/propose/Edits.ts)
// ---------------------------------------------------------------------------------------------

const START_RE = /^\s*(?:#+|\/\/+|--+|\/\*+|<!--|;+|%+|\*)\s*EVOLVE-BLOCK-START\b/
const END_RE = /^\s*(?:#+|\/\/+|--+|\/\*+|<!--|;+|%+|\*)\s*EVOLVE-BLOCK-END\b/

interface Span {
  readonly from: number // first editable line
  readonly to: number // last editable line (inclusive)
  readonly anchorFrom: number // lines usable as SEARCH context (marker lines included)
  readonly anchorTo: number
}

const editableSpans = (lines: ReadonlyArray<string>): Array<Span> => {
  const spans: Array<Span> = []
  let i = 0
  while (i < lines.length) {
    if (START_RE.test(lines[i]!)) {
      let j = i + 1
      while (j < lines.length && !END_RE.test(lines[j]!)) j++
      if (j > i + 1) spans.push({ from: i + 1, to: j - 1, anchorFrom: i, anchorTo: Math.min(j, lines.length - 1) })
      i = j + 1
    } else i++
  }
  if (spans.length === 0 && !lines.some((l) => START_RE.test(l))) {
    spans.push({ from: 0, to: lines.length - 1, anchorFrom: 0, anchorTo: lines.length - 1 })
  }
  return spans
}

// ---------------------------------------------------------------------------------------------
// Random helpers (Effect's Random service only)
// ---------------------------------------------------------------------------------------------

const gaussian = Effect.gen(function*() {
  const u1 = Math.max(yield* Random.next, 1e-12)
  const u2 = yield* Random.next
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
})

const pickWeighted = <A>(items: ReadonlyArray<A>, weight: (a: A) => number) =>
  Effect.gen(function*() {
    const total = items.reduce((s, a) => s + weight(a), 0)
    let r = (yield* Random.next) * total
    for (const a of items) {
      r -= weight(a)
      if (r < 0) return a
    }
    return items[items.length - 1]!
  })

const pick = <A>(items: ReadonlyArray<A>) =>
  Effect.map(Random.nextIntBetween(0, items.length), (i) => items[i]!)

// ---------------------------------------------------------------------------------------------
// Mutation operators. Each returns the changed line(s) or null when it does not apply.
// ---------------------------------------------------------------------------------------------

interface Literal {
  readonly line: number
  readonly start: number
  readonly text: string
  readonly weight: number
}

const NUMBER_RE = /(?<![\w.$])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.$])/g

const literalsOf = (lines: ReadonlyArray<string>, editable: ReadonlyArray<number>, style: CommentStyle) => {
  const out: Array<Literal> = []
  for (const i of editable) {
    const line = lines[i]!
    const masked = maskLine(line, style)
    // `name = 0.5` on a line of its own reads like a tunable parameter.
    const isParameter = /^\s*(?:(?:const|let|var|val|final|static|auto|double|float|int)\s+)?[A-Za-z_$][\w$]*\s*(?::\s*[\w.[\]]+\s*)?=\s*[-+]?[\d.][\w.+-]*\s*;?\s*$/
      .test(masked)
    for (const m of masked.matchAll(NUMBER_RE)) {
      const text = m[0]
      const start = m.index!
      const isFloat = /[.eE]/.test(text)
      const value = Number(text)
      const indexing = masked[start - 1] === "[" && masked[start + text.length] === "]"
      let weight = value === 0 ? (isFloat ? 0.3 : 0.1) : isFloat ? 4 : value === 1 ? 0.3 : value === 2 ? 0.6 : 1.5
      if (isParameter) weight *= 4
      if (indexing) weight = 0.02
      out.push({ line: i, start, text, weight })
    }
  }
  return out
}

const significantDigits = (text: string): number => {
  const mantissa = text.split(/[eE]/)[0]!.replace(".", "").replace(/^0+/, "")
  return Math.max(1, mantissa.length)
}

const formatLike = (original: string, value: number): string => {
  if (/^\d+$/.test(original)) return String(Math.round(value))
  const digits = Math.min(6, Math.max(3, significantDigits(original) + 1))
  if (/[eE]/.test(original)) return value.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e")
  let s = String(Number(value.toPrecision(digits)))
  if (/e/.test(s)) s = value.toFixed(Math.min(12, digits + Math.max(0, -Math.floor(Math.log10(value)))))
  if (!/[.e]/.test(s)) s += ".0"
  return s
}

/** A new text for a numeric literal, or null when the draw did not change it. */
const perturbNumber = (text: string) =>
  Effect.gen(function*() {
    const isInt = /^\d+$/.test(text)
    const value = Number(text)
    const sigma = yield* pickWeighted([0.05, 0.15, 0.4, 0.9], (s) => (s === 0.05 ? 2 : s === 0.15 ? 4 : s === 0.4 ? 3 : 1))
    const z = yield* gaussian
    let next: number
    if (value === 0) {
      next = isInt ? 1 : Math.pow(10, -3 + 3 * (yield* Random.next))
    } else if (!isInt && value > 0.5 && value < 1 && (yield* Random.next) < 0.8) {
      // decay / cooling / momentum factors: tune the distance to 1
      next = 1 - (1 - value) * Math.exp(sigma * 2 * z)
      if (next >= 1) next = 1 - (1 - value) / 2
    } else if ((yield* Random.next) < 0.15) {
      // additive step, relative to the magnitude
      next = value + sigma * z * Math.max(Math.abs(value), isInt ? 2 : 0.1)
      if (next <= 0) next = value / 2
    } else {
      next = value * Math.exp(sigma * z)
    }
    if (isInt) {
      let n = Math.round(next)
      if (n === value) n = value + ((yield* Random.next) < 0.5 && value > 1 ? -1 : 1)
      if (value >= 1) n = Math.max(1, n)
      next = n
    }
    const out = formatLike(text, next)
    return out === text || !Number.isFinite(Number(out)) ? null : out
  })

const COMPARE_RE = /(?<![<>=!\-])(<=|>=|<|>)(?![<>=])/g
const PLUS_MINUS_RE = /(?<=[\w)\]]\s*)([+-])(?![+=\->])/g
const hasMatch = (re: RegExp, s: string) => new RegExp(re.source).test(s)

const flipComparison = (line: string, masked: string) =>
  Effect.gen(function*() {
    const ms = [...masked.matchAll(COMPARE_RE)]
    if (ms.length === 0) return null
    const m = yield* pick(ms)
    const to = { "<": "<=", "<=": "<", ">": ">=", ">=": ">" }[m[0]]!
    return { line: line.slice(0, m.index!) + to + line.slice(m.index! + m[0].length), note: `${m[0]} → ${to}` }
  })

const flipPlusMinus = (line: string, masked: string) =>
  Effect.gen(function*() {
    const ms = [...masked.matchAll(PLUS_MINUS_RE)].filter((m) => {
      const before = masked.slice(0, m.index!)
      return !/\d[eE]$/.test(before) && !/[+-]$/.test(before) &&
        !/\b(return|yield|in|of|not|and|or|case|typeof|await|else|print)\s*$/.test(before)
    })
    if (ms.length === 0) return null
    const m = yield* pick(ms)
    const to = m[0] === "+" ? "-" : "+"
    return { line: line.slice(0, m.index!) + to + line.slice(m.index! + 1), note: `${m[0]} → ${to}` }
  })

const balanced = (s: string) => {
  let depth = 0
  for (const c of s) {
    if (c === "(" || c === "[" || c === "{") depth++
    else if (c === ")" || c === "]" || c === "}") depth--
    if (depth < 0) return false
  }
  return depth === 0
}

const isSimpleStatement = (line: string, masked: string) => {
  const t = masked.trim()
  return t !== "" && !isCommentLine(line) && balanced(t) && !/[{:(\[,\\]$/.test(t) &&
    !/^(?:(?:return|break|continue|else|elif|except|finally|case|default|yield|raise|throw|pass)\b|[}\])])/.test(t) &&
    !/^(if|for|while|def|class|function|try|with|switch|do)\b/.test(t)
}

// ---------------------------------------------------------------------------------------------
// Building the answer
// ---------------------------------------------------------------------------------------------

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

const mutate = (code: string, info: string, inspirations: ReadonlyArray<string>) =>
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

    const count = yield* pickWeighted([1, 2, 3], (k) => (k === 1 ? 0.65 : k === 2 ? 0.25 : 0.1))
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
        const text = yield* perturbNumber(lit.text)
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

/** The offline model's answer to a user message holding the current program as its last code block. */
export const respond = (userText: string): Effect.Effect<string> =>
  Effect.gen(function*() {
    const blocks = codeBlocks(userText)
    const current = blocks[blocks.length - 1]
    if (current === undefined) {
      return "I could not find the current program: the prompt has no fenced code block."
    }
    const inspirations = blocks.slice(0, -1).map((b) => b.code).filter((c) => c.trim() !== "")
    const result = yield* mutate(current.code, current.info, inspirations)
    if (result === null) {
      return "No change proposed: the editable code has no numeric literal or simple statement to mutate."
    }
    return `Offline mutation: ${result.notes.join("; ")}.\n\n${result.blocks.join("\n\n")}\n`
  })

const promptChars = (prompt: Prompt.Prompt) => prompt.content.reduce((n, m) => n + messageText(m).length, 0)

const usageOf = (prompt: Prompt.Prompt, text: string) => {
  const inputTokens = Math.ceil(promptChars(prompt) / 4)
  const outputTokens = Math.ceil(text.length / 4)
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
}

const generateText = (options: LanguageModel.ProviderOptions) =>
  Effect.map(respond(lastUserText(options.prompt)), (text): Array<Response.PartEncoded> => [
    { type: "text", text },
    { type: "finish", reason: "stop", usage: usageOf(options.prompt, text) }
  ])

const streamText = (options: LanguageModel.ProviderOptions) =>
  Stream.unwrap(
    Effect.map(respond(lastUserText(options.prompt)), (text) =>
      Stream.fromIterable<Response.StreamPartEncoded>([
        { type: "text-start", id: "offline" },
        { type: "text-delta", id: "offline", delta: text },
        { type: "text-end", id: "offline" },
        { type: "finish", reason: "stop", usage: usageOf(options.prompt, text) }
      ]))
  )

/** The offline `LanguageModel` service: deterministic given the `Random` service, no network. */
export const make: Effect.Effect<LanguageModel.Service> = LanguageModel.make({ generateText, streamText })

/** The offline `LanguageModel`: deterministic given the `Random` service, no network. */
export const layer: Layer.Layer<LanguageModel.LanguageModel> = Layer.effect(LanguageModel.LanguageModel, make)
