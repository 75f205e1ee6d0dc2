/**
 * The offline mutator's operators on single lines, drawing only from Effect's `Random`: tune a
 * numeric literal (log-normal factor; decay-like constants in (0.5, 1) through 1 − x; integers
 * stay integral; formatting kept), flip `<`/`<=` or binary `+`/`-`, and the tests that pick
 * lines two simple statements may swap on. Each returns null when it does not apply.
 */
import { Effect, Random } from "effect"
import { type CommentStyle, isCommentLine, maskLine } from "./CodeMask.js"

export const gaussian = Effect.gen(function*() {
  const u1 = Math.max(yield* Random.next, 1e-12)
  const u2 = yield* Random.next
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
})

export const pickWeighted = <A>(items: ReadonlyArray<A>, weight: (a: A) => number) =>
  Effect.gen(function*() {
    const total = items.reduce((s, a) => s + weight(a), 0)
    let r = (yield* Random.next) * total
    for (const a of items) {
      r -= weight(a)
      if (r < 0) return a
    }
    return items[items.length - 1]!
  })

export const pick = <A>(items: ReadonlyArray<A>) =>
  Effect.map(Random.nextIntBetween(0, items.length), (i) => items[i]!)

export interface Literal {
  readonly line: number
  readonly start: number
  readonly text: string
  readonly weight: number
}

export const NUMBER_RE = /(?<![\w.$])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.$])/g

export const literalsOf = (lines: ReadonlyArray<string>, editable: ReadonlyArray<number>, style: CommentStyle) => {
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

/**
 * A new text for a numeric literal, or null when the draw did not change it. `scale` widens the
 * steps (an exploring island of adaptive search asks for bolder changes).
 */
export const perturbNumber = (text: string, scale = 1) =>
  Effect.gen(function*() {
    const isInt = /^\d+$/.test(text)
    const value = Number(text)
    const sigma = scale * (yield* pickWeighted([0.05, 0.15, 0.4, 0.9], (s) => (s === 0.05 ? 2 : s === 0.15 ? 4 : s === 0.4 ? 3 : 1)))
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

/** A paradigm shift's jump: the literal redrawn log-uniformly within a factor of 30 either way (0 becomes 10^-3..1). */
export const jumpNumber = (text: string) =>
  Effect.gen(function*() {
    const isInt = /^\d+$/.test(text)
    const value = Number(text)
    const u = yield* Random.next
    let next = value === 0 ? Math.pow(10, -3 + 3 * u) : value * Math.exp((2 * u - 1) * Math.log(30))
    if (isInt) next = Math.max(value >= 1 ? 1 : 0, Math.round(next))
    const out = formatLike(text, next)
    return out === text || !Number.isFinite(Number(out)) ? null : out
  })

export const COMPARE_RE = /(?<![<>=!\-])(<=|>=|<|>)(?![<>=])/g
export const PLUS_MINUS_RE = /(?<=[\w)\]]\s*)([+-])(?![+=\->])/g
export const hasMatch = (re: RegExp, s: string) => new RegExp(re.source).test(s)

export const flipComparison = (line: string, masked: string) =>
  Effect.gen(function*() {
    const ms = [...masked.matchAll(COMPARE_RE)]
    if (ms.length === 0) return null
    const m = yield* pick(ms)
    const to = { "<": "<=", "<=": "<", ">": ">=", ">=": ">" }[m[0]]!
    return { line: line.slice(0, m.index!) + to + line.slice(m.index! + m[0].length), note: `${m[0]} → ${to}` }
  })

export const flipPlusMinus = (line: string, masked: string) =>
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

export const isSimpleStatement = (line: string, masked: string) => {
  const t = masked.trim()
  return t !== "" && !isCommentLine(line) && balanced(t) && !/[{:(\[,\\]$/.test(t) &&
    !/^(?:(?:return|break|continue|else|elif|except|finally|case|default|yield|raise|throw|pass)\b|[}\])])/.test(t) &&
    !/^(if|for|while|def|class|function|try|with|switch|do)\b/.test(t)
}
