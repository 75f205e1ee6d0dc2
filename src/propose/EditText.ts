/** Line-level text helpers of the edit rules, and their failure constructor. */
import { Either } from "effect"
import { PatchError, type PatchErrorReason } from "../domain/Errors.js"

export const toLf = (text: string): string => text.replace(/\r\n?/g, "\n")
export const rstrip = (line: string): string => line.replace(/\s+$/, "")
export const leadingWs = (line: string): string => /^[ \t]*/.exec(line)![0]
export const isBlank = (line: string): boolean => line.trim() === ""

export const fail = (reason: PatchErrorReason, message: string) => Either.left(new PatchError({ reason, message }))

export const quote = (line: string, max = 120): string => {
  const t = line.trim()
  return JSON.stringify(t.length > max ? `${t.slice(0, max)}…` : t)
}

export const trimBlankEnds = (xs: ReadonlyArray<string>): Array<string> => {
  let a = 0
  let b = xs.length
  while (a < b && isBlank(xs[a]!)) a++
  while (b > a && isBlank(xs[b - 1]!)) b--
  return xs.slice(a, b)
}

export const sameLoosely = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((line, i) => rstrip(line) === rstrip(b[i]!))

export const trimLeadingBlank = (xs: ReadonlyArray<string>): Array<string> => {
  let a = 0
  while (a < xs.length && isBlank(xs[a]!)) a++
  return xs.slice(a)
}

export const minIndent = (ls: ReadonlyArray<string>): string => {
  let best: string | undefined
  for (const l of ls) {
    if (isBlank(l)) continue
    const w = leadingWs(l)
    if (best === undefined || w.length < best.length) best = w
  }
  return best ?? ""
}

export const endsWithLines = (xs: ReadonlyArray<string>, suffix: ReadonlyArray<string>) =>
  suffix.length <= xs.length && sameLoosely(xs.slice(xs.length - suffix.length), suffix)
