/**
 * SEARCH/REPLACE blocks: parsing them out of a model's answer and applying them in order, each
 * to the result of the previous one. Matching, per block, in tiers: exact whole lines; exact
 * substring; lines equal up to trailing whitespace and a uniform indentation difference (the
 * replacement is re-indented by the same difference); the same two with blank lines trimmed
 * from both ends of the block. Of several matches, the first one inside an EVOLVE-BLOCK region
 * wins (the first one overall without regions); with regions, a match must lie inside one (its
 * marker lines may serve as anchors).
 */
import { Either } from "effect"
import type { PatchError } from "../domain/Errors.js"
import { blocksOfLines, describeBlocks, type EvolveBlock } from "../domain/EvolveBlocks.js"
import { fail, isBlank, leadingWs, quote, rstrip, trimBlankEnds } from "./EditText.js"

export interface SearchReplace {
  readonly search: Array<string>
  readonly replace: Array<string>
}

const SEARCH_RE = /^\s*<{5,9}\s*SEARCH\b/i
const DIVIDER_RE = /^\s*={5,9}\s*$/
const REPLACE_RE = /^\s*>{5,9}\s*REPLACE\b/i

/** A section wrapped in its own ``` fence (some models do that): drop the fence lines. */
const unfence = (section: Array<string>): Array<string> =>
  section.length >= 2 && /^\s*```/.test(section[0]!) && /^\s*```\s*$/.test(section[section.length - 1]!)
    ? section.slice(1, -1)
    : section

/** The SEARCH/REPLACE blocks of an answer, in order; `unterminated` when the last one never ends (a cut-off answer). */
export const parseSearchReplace = (text: string): { blocks: Array<SearchReplace>; unterminated: boolean } => {
  const blocks: Array<SearchReplace> = []
  let state: "out" | "search" | "replace" = "out"
  let search: Array<string> = []
  let replace: Array<string> = []
  for (const line of text.split("\n")) {
    if (state === "out") {
      if (SEARCH_RE.test(line)) {
        state = "search"
        search = []
      }
    } else if (state === "search") {
      if (DIVIDER_RE.test(line)) {
        state = "replace"
        replace = []
      } else if (SEARCH_RE.test(line)) search = []
      else search.push(line)
    } else if (REPLACE_RE.test(line)) {
      blocks.push({ search: unfence(search), replace: unfence(replace) })
      state = "out"
    } else replace.push(line)
  }
  return { blocks, unterminated: state !== "out" }
}

type MatchKind = "exact" | "substring" | "tolerant"

interface Match {
  readonly kind: MatchKind
  /** First and last line (0-based, inclusive) the match touches. */
  readonly firstLine: number
  readonly lastLine: number
  /** Produces the new code lines and the text actually replaced / inserted. */
  readonly apply: () => { lines: Array<string>; matched: string; inserted: string }
}

const lineOfOffset = (text: string, offset: number): number => {
  let n = 0
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) n++
  return n
}

const exactLineMatches = (lines: ReadonlyArray<string>, search: ReadonlyArray<string>, replace: ReadonlyArray<string>) => {
  const out: Array<Match> = []
  for (let at = 0; at + search.length <= lines.length; at++) {
    let ok = true
    for (let k = 0; k < search.length && ok; k++) ok = lines[at + k] === search[k]
    if (ok) {
      out.push({
        kind: "exact",
        firstLine: at,
        lastLine: at + search.length - 1,
        apply: () => ({
          lines: [...lines.slice(0, at), ...replace, ...lines.slice(at + search.length)],
          matched: search.join("\n"),
          inserted: replace.join("\n")
        })
      })
    }
  }
  return out
}

const substringMatches = (lines: ReadonlyArray<string>, search: ReadonlyArray<string>, replace: ReadonlyArray<string>) => {
  const out: Array<Match> = []
  const code = lines.join("\n")
  const needle = search.join("\n")
  if (needle.trim() === "") return out
  let idx = code.indexOf(needle)
  while (idx >= 0) {
    const at = idx
    out.push({
      kind: "substring",
      firstLine: lineOfOffset(code, at),
      lastLine: lineOfOffset(code, at + needle.length),
      apply: () => ({
        lines: (code.slice(0, at) + replace.join("\n") + code.slice(at + needle.length)).split("\n"),
        matched: needle,
        inserted: replace.join("\n")
      })
    })
    idx = code.indexOf(needle, idx + Math.max(1, needle.length))
  }
  return out
}

/** Equal up to trailing whitespace and one uniform indentation difference `delta`. */
const tolerantAt = (
  lines: ReadonlyArray<string>,
  search: ReadonlyArray<string>,
  at: number
): { mode: "add" | "remove"; delta: string } | null => {
  let rel: { mode: "add" | "remove"; delta: string } | null = null
  for (let k = 0; k < search.length; k++) {
    const c = rstrip(lines[at + k]!)
    const s = rstrip(search[k]!)
    if (s === "" || c === "") {
      if (s !== c) return null
      continue
    }
    const ci = leadingWs(c)
    const si = leadingWs(s)
    if (c.slice(ci.length) !== s.slice(si.length)) return null
    if (rel === null) {
      rel = ci.length >= si.length
        ? { mode: "add", delta: ci.slice(0, ci.length - si.length) }
        : { mode: "remove", delta: si.slice(0, si.length - ci.length) }
    }
    if (rel.mode === "add" ? ci !== rel.delta + si : si !== rel.delta + ci) return null
  }
  return rel ?? { mode: "add", delta: "" }
}

const reindent = (replace: ReadonlyArray<string>, rel: { mode: "add" | "remove"; delta: string }) =>
  replace.map((line) => {
    if (rel.delta === "" || isBlank(line)) return rel.delta === "" ? line : ""
    if (rel.mode === "add") return rel.delta + line
    return line.startsWith(rel.delta) ? line.slice(rel.delta.length) : line.slice(Math.min(leadingWs(line).length, rel.delta.length))
  })

const tolerantMatches = (lines: ReadonlyArray<string>, search: ReadonlyArray<string>, replace: ReadonlyArray<string>) => {
  const out: Array<Match> = []
  if (search.every(isBlank)) return out
  for (let at = 0; at + search.length <= lines.length; at++) {
    const rel = tolerantAt(lines, search, at)
    if (rel) {
      const inserted = reindent(replace, rel)
      out.push({
        kind: "tolerant",
        firstLine: at,
        lastLine: at + search.length - 1,
        apply: () => ({
          lines: [...lines.slice(0, at), ...inserted, ...lines.slice(at + search.length)],
          matched: lines.slice(at, at + search.length).join("\n"),
          inserted: inserted.join("\n")
        })
      })
    }
  }
  return out
}

type Located =
  | { readonly _tag: "Found"; readonly match: Match }
  | { readonly _tag: "Outside"; readonly match: Match }
  | { readonly _tag: "None" }

const locate = (lines: ReadonlyArray<string>, block: SearchReplace, regions: ReadonlyArray<EvolveBlock>): Located => {
  const inside = (m: Match) =>
    regions.length === 0 || regions.some((r) => r.startLine <= m.firstLine && m.lastLine <= r.endLine)
  const trimmedSearch = trimBlankEnds(block.search)
  const trimmedReplace = trimBlankEnds(block.replace)
  const tiers: Array<() => Array<Match>> = [
    () => exactLineMatches(lines, block.search, block.replace),
    () => substringMatches(lines, block.search, block.replace),
    () => tolerantMatches(lines, block.search, block.replace),
    () => trimmedSearch.length === block.search.length ? [] : exactLineMatches(lines, trimmedSearch, trimmedReplace),
    () => trimmedSearch.length === block.search.length ? [] : tolerantMatches(lines, trimmedSearch, trimmedReplace)
  ]
  let outside: Match | undefined
  for (const tier of tiers) {
    const matches = tier()
    const found = matches.find(inside)
    if (found) return { _tag: "Found", match: found }
    outside ??= matches[0]
  }
  return outside ? { _tag: "Outside", match: outside } : { _tag: "None" }
}

/** Applies the blocks in order; the patch is the blocks as applied (re-appliable to the parent). */
export const applyBlocks = (
  parentLines: ReadonlyArray<string>,
  blocks: ReadonlyArray<SearchReplace>
): Either.Either<{ lines: Array<string>; patch: string }, PatchError> => {
  let lines = [...parentLines]
  const applied: Array<string> = []
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!
    const label = blocks.length > 1 ? `SEARCH block ${i + 1} of ${blocks.length}` : "The SEARCH block"
    const firstLine = block.search.find((l) => !isBlank(l))
    if (firstLine === undefined) {
      return fail("no_match", `${label} has an empty SEARCH section; quote the exact lines to replace`)
    }
    const regions = blocksOfLines(lines)
    const located = locate(lines, block, regions)
    if (located._tag === "None") {
      const near = lines.findIndex((l) => l.trim() === firstLine.trim())
      const hint = near >= 0
        ? ` (a line like it is at line ${near + 1}, but the following lines differ)`
        : " (no line of the program looks like it)"
      return fail(
        "no_match",
        `${label} does not match the current program; its first line is ${quote(firstLine)}${hint}. ` +
          "SEARCH text must be copied exactly from the current program."
      )
    }
    if (located._tag === "Outside") {
      return fail(
        "outside_evolve_block",
        `${label} (first line ${quote(firstLine)}) matches lines ${located.match.firstLine + 1}–${
          located.match.lastLine + 1
        }, outside the EVOLVE-BLOCK regions (${describeBlocks(regions)}); ` +
          "only code between EVOLVE-BLOCK-START and EVOLVE-BLOCK-END may change"
      )
    }
    const result = located.match.apply()
    lines = result.lines
    applied.push(`<<<<<<< SEARCH\n${result.matched}\n=======\n${result.inserted}${result.inserted === "" ? "" : "\n"}>>>>>>> REPLACE`)
  }
  return Either.right({ lines, patch: applied.join("\n\n") })
}
