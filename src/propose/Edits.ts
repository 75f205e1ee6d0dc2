/**
 * Turning a model's answer into a new program: SEARCH/REPLACE diffs, full rewrites and
 * EVOLVE-BLOCK confinement. Pure functions; failures are `PatchError`s with a message that
 * can be sent back to the model.
 *
 * Rules (the prompt in Prompt.ts states the same rules to the model):
 * - SEARCH/REPLACE blocks (`<<<<<<< SEARCH` … `=======` … `>>>>>>> REPLACE`) are applied in
 *   order, each to the result of the previous one. Prose and ``` fences around them are ignored.
 * - Matching, per block, in tiers: exact whole lines; exact substring; lines equal up to
 *   trailing whitespace and a uniform indentation difference (the replacement is re-indented
 *   by the same difference); the same two with blank lines trimmed from both ends of the block.
 * - Several matches: the first one that lies inside an EVOLVE-BLOCK region wins (the first one
 *   overall when the program has no regions). Models usually quote enough context to be
 *   unique, and refusing would waste a whole proposal on a harmless ambiguity.
 * - With EVOLVE-BLOCK regions, a match must lie inside a region (its marker lines may serve as
 *   anchors) and, after all edits, every byte outside the regions must be unchanged.
 * - With no SEARCH/REPLACE block, the last fenced code block is a full rewrite, in either
 *   format; in "full" format SEARCH/REPLACE blocks are still accepted when present.
 * - CRLF in the response or the parent is tolerated; a CRLF parent keeps its CRLF endings.
 */
import { createHash } from "node:crypto"
import { Either } from "effect"
import * as CodeFences from "../domain/CodeFences.js"
import { PatchError, type PatchErrorReason } from "../domain/Errors.js"

export interface EditOptions {
  readonly format: "diff" | "full"
  readonly maxCodeBytes: number
}

export interface AppliedEdit {
  readonly code: string
  /** The SEARCH/REPLACE blocks as applied (re-appliable to the parent), or "full rewrite" + a diff. */
  readonly patch: string
}

/** One EVOLVE-BLOCK region: 0-based indexes of its marker lines (`endLine` = line count when unterminated). */
export interface EvolveBlock {
  readonly startLine: number
  readonly endLine: number
}

// ---------------------------------------------------------------------------------------------
// Hashing and small helpers
// ---------------------------------------------------------------------------------------------

const toLf = (text: string): string => text.replace(/\r\n?/g, "\n")
const rstrip = (line: string): string => line.replace(/\s+$/, "")
const leadingWs = (line: string): string => /^[ \t]*/.exec(line)![0]
const isBlank = (line: string): boolean => line.trim() === ""

/** Code normalised for identity: LF endings, no trailing whitespace per line, no trailing blank lines. */
export const normalizeCode = (code: string): string => toLf(code).split("\n").map(rstrip).join("\n").replace(/\n+$/, "")

/** sha256 (hex) of the normalised code: programs differing only in trailing whitespace hash equal. */
export const codeHash = (code: string): string => createHash("sha256").update(normalizeCode(code)).digest("hex")

const fail = (reason: PatchErrorReason, message: string) => Either.left(new PatchError({ reason, message }))

const quote = (line: string, max = 120): string => {
  const t = line.trim()
  return JSON.stringify(t.length > max ? `${t.slice(0, max)}…` : t)
}

// ---------------------------------------------------------------------------------------------
// EVOLVE-BLOCK regions
// ---------------------------------------------------------------------------------------------

const markerRe = (word: "START" | "END") =>
  new RegExp(String.raw`^\s*(?:#+|\/\/+|--+|\/\*+|<!--|;+|%+|\*)\s*EVOLVE-BLOCK-${word}\b`)
const START_RE = markerRe("START")
const END_RE = markerRe("END")

const blocksOfLines = (lines: ReadonlyArray<string>): Array<EvolveBlock> => {
  const blocks: Array<EvolveBlock> = []
  let i = 0
  while (i < lines.length) {
    if (START_RE.test(lines[i]!)) {
      let j = i + 1
      while (j < lines.length && !END_RE.test(lines[j]!)) j++
      blocks.push({ startLine: i, endLine: j })
      i = j + 1
    } else {
      i++
    }
  }
  return blocks
}

/** The EVOLVE-BLOCK regions of `code`, in order (marker comments: `#`, `//`, `--`, `/* *\/`, …). */
export const evolveBlocks = (code: string): ReadonlyArray<EvolveBlock> => blocksOfLines(toLf(code).split("\n"))

/** The text outside the regions, marker lines included: `blocks.length + 1` segments. */
const outsideSegments = (lines: ReadonlyArray<string>, blocks: ReadonlyArray<EvolveBlock>) => {
  const segments: Array<Array<string>> = []
  let from = 0
  for (const b of blocks) {
    segments.push(lines.slice(from, b.startLine + 1))
    from = b.endLine
  }
  segments.push(lines.slice(from))
  return segments
}

const interiors = (lines: ReadonlyArray<string>, blocks: ReadonlyArray<EvolveBlock>) =>
  blocks.map((b) => lines.slice(b.startLine + 1, b.endLine))

const describeBlocks = (blocks: ReadonlyArray<EvolveBlock>) =>
  blocks.map((b) => `lines ${b.startLine + 1}–${b.endLine + 1}`).join(", ")

// ---------------------------------------------------------------------------------------------
// Parsing the response
// ---------------------------------------------------------------------------------------------

interface SearchReplace {
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

const parseSearchReplace = (text: string): { blocks: Array<SearchReplace>; unterminated: boolean } => {
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

/** Every complete fenced code block's code, in order (see CodeFences.parse). */
export const fencedBlocks = (text: string): { blocks: Array<string>; unterminated: boolean } => {
  const { blocks, unterminated } = CodeFences.parse(text)
  return { blocks: blocks.map((block) => block.code), unterminated }
}

// ---------------------------------------------------------------------------------------------
// Matching one SEARCH block
// ---------------------------------------------------------------------------------------------

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

const trimBlankEnds = (xs: ReadonlyArray<string>): Array<string> => {
  let a = 0
  let b = xs.length
  while (a < b && isBlank(xs[a]!)) a++
  while (b > a && isBlank(xs[b - 1]!)) b--
  return xs.slice(a, b)
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

// ---------------------------------------------------------------------------------------------
// A compact line diff for full rewrites
// ---------------------------------------------------------------------------------------------

const MAX_DIFF_CELLS = 2_000_000
const MAX_PATCH_CHARS = 20_000

/** A unified-style diff (2 lines of context); one coarse hunk when the files are too big for LCS. */
export const lineDiff = (before: string, after: string): string => {
  const a = toLf(before).split("\n")
  const b = toLf(after).split("\n")
  let pre = 0
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++
  let suf = 0
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++
  const am = a.slice(pre, a.length - suf)
  const bm = b.slice(pre, b.length - suf)
  // ops over the middle: " " keep, "-" delete, "+" insert
  const ops: Array<{ op: " " | "-" | "+"; line: string }> = []
  if (am.length * bm.length <= MAX_DIFF_CELLS) {
    const n = am.length
    const m = bm.length
    const lcs = new Uint32Array((n + 1) * (m + 1))
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] = am[i] === bm[j]
          ? lcs[(i + 1) * (m + 1) + j + 1]! + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!)
      }
    }
    let i = 0
    let j = 0
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        ops.push({ op: " ", line: am[i]! })
        i++
        j++
      } else if (i < n && (j >= m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!)) {
        ops.push({ op: "-", line: am[i++]! })
      } else {
        ops.push({ op: "+", line: bm[j++]! })
      }
    }
  } else {
    for (const line of am) ops.push({ op: "-", line })
    for (const line of bm) ops.push({ op: "+", line })
  }
  const all = [
    ...a.slice(0, pre).map((line) => ({ op: " " as const, line })),
    ...ops,
    ...a.slice(a.length - suf).map((line) => ({ op: " " as const, line }))
  ]
  // group into hunks with 2 lines of context
  const context = 2
  const out: Array<string> = []
  let k = 0
  let oldLine = 1
  let newLine = 1
  while (k < all.length) {
    if (all[k]!.op === " ") {
      k++
      oldLine++
      newLine++
      continue
    }
    const start = Math.max(0, k - context)
    let end = k
    // extend while changes are within 2*context of each other
    for (;;) {
      while (end < all.length && all[end]!.op !== " ") end++
      let gap = end
      while (gap < all.length && all[gap]!.op === " " && gap - end < 2 * context) gap++
      if (gap < all.length && all[gap]!.op !== " ") end = gap
      else break
    }
    const stop = Math.min(all.length, end + context)
    const oldStart = oldLine - (k - start)
    const newStart = newLine - (k - start)
    const hunk = all.slice(start, stop)
    const oldCount = hunk.filter((h) => h.op !== "+").length
    const newCount = hunk.filter((h) => h.op !== "-").length
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`)
    for (const h of hunk) out.push(`${h.op}${h.line}`)
    for (let t = k; t < stop; t++) {
      if (all[t]!.op !== "+") oldLine++
      if (all[t]!.op !== "-") newLine++
    }
    k = stop
  }
  const text = out.join("\n")
  return text.length > MAX_PATCH_CHARS ? `${text.slice(0, MAX_PATCH_CHARS)}\n… (diff truncated)` : text
}

// ---------------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------------

const applyBlocks = (
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

const sameLoosely = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((line, i) => rstrip(line) === rstrip(b[i]!))

/** Segments equal up to trailing whitespace, and up to blank lines at both ends of the file. */
const firstOutsideDifference = (
  parentSegs: ReadonlyArray<ReadonlyArray<string>>,
  newSegs: ReadonlyArray<ReadonlyArray<string>>
): string | null => {
  for (let s = 0; s < parentSegs.length; s++) {
    const last = s === parentSegs.length - 1
    const p = s === 0 ? trimLeadingBlank(parentSegs[s]!) : last ? trimBlankEnds(parentSegs[s]!) : parentSegs[s]!
    const n = s === 0 ? trimLeadingBlank(newSegs[s]!) : last ? trimBlankEnds(newSegs[s]!) : newSegs[s]!
    if (!sameLoosely(p, n)) {
      const k = p.findIndex((line, i) => n[i] === undefined || rstrip(line) !== rstrip(n[i]!))
      const line = k >= 0 ? p[k]! : n[p.length] ?? ""
      return line.trim() === "" ? "(blank lines differ)" : quote(line)
    }
  }
  return null
}

const trimLeadingBlank = (xs: ReadonlyArray<string>): Array<string> => {
  let a = 0
  while (a < xs.length && isBlank(xs[a]!)) a++
  return xs.slice(a)
}

const minIndent = (ls: ReadonlyArray<string>): string => {
  let best: string | undefined
  for (const l of ls) {
    if (isBlank(l)) continue
    const w = leadingWs(l)
    if (best === undefined || w.length < best.length) best = w
  }
  return best ?? ""
}

const endsWithLines = (xs: ReadonlyArray<string>, suffix: ReadonlyArray<string>) =>
  suffix.length <= xs.length && sameLoosely(xs.slice(xs.length - suffix.length), suffix)

const fullRewrite = (
  parentLines: ReadonlyArray<string>,
  parentEndsWithNewline: boolean,
  rewrite: string
): Either.Either<Array<string>, PatchError> => {
  const rwLines = rewrite.split("\n")
  const regions = blocksOfLines(parentLines)
  if (regions.length === 0) return Either.right(parentEndsWithNewline ? [...rwLines, ""] : rwLines)

  const rwRegions = blocksOfLines(rwLines)
  const parentSegs = outsideSegments(parentLines, regions)
  if (rwRegions.length > 0) {
    if (rwRegions.length !== regions.length) {
      return fail(
        "outside_evolve_block",
        `the rewrite has ${rwRegions.length} EVOLVE-BLOCK region(s) but the program has ${regions.length}; ` +
          "keep every EVOLVE-BLOCK-START/END marker and change only the code between them"
      )
    }
    const diff = firstOutsideDifference(parentSegs, outsideSegments(rwLines, rwRegions))
    if (diff !== null) {
      return fail(
        "outside_evolve_block",
        `the rewrite changes code outside the EVOLVE-BLOCK regions (first difference at ${diff}); ` +
          "only code between EVOLVE-BLOCK-START and EVOLVE-BLOCK-END may change"
      )
    }
    // Keep the parent's outside bytes exactly; take the new region contents.
    const inner = interiors(rwLines, rwRegions)
    return Either.right(parentSegs.flatMap((seg, i) => (i < inner.length ? [...seg, ...inner[i]!] : seg)))
  }

  if (regions.length > 1) {
    return fail(
      "outside_evolve_block",
      `the program has ${regions.length} EVOLVE-BLOCK regions; a full rewrite must keep their ` +
        "EVOLVE-BLOCK-START/END markers"
    )
  }
  // One region and no markers in the rewrite: it is the region's new contents, or the whole
  // program with the marker lines dropped.
  const region = regions[0]!
  const prefix = trimBlankEnds(parentLines.slice(0, region.startLine))
  const suffix = trimBlankEnds(parentLines.slice(region.endLine + 1))
  let body = trimBlankEnds(rwLines)
  const hasPrefix = prefix.length > 0 && body.length >= prefix.length && sameLoosely(body.slice(0, prefix.length), prefix)
  const hasSuffix = suffix.length > 0 && endsWithLines(body, suffix)
  if (hasPrefix || hasSuffix) {
    if ((prefix.length > 0 && !hasPrefix) || (suffix.length > 0 && !hasSuffix)) {
      return fail(
        "outside_evolve_block",
        "the rewrite drops the EVOLVE-BLOCK markers and changes code outside the EVOLVE-BLOCK region; " +
          "return either the whole program with its markers or only the code between them"
      )
    }
    body = body.slice(hasPrefix ? prefix.length : 0, body.length - (hasSuffix ? suffix.length : 0))
  }
  // Re-indent a block that came back flush-left when the region is indented.
  const oldInterior = parentLines.slice(region.startLine + 1, region.endLine).filter((l) => !isBlank(l))
  const want = oldInterior.length > 0 ? minIndent(oldInterior) : leadingWs(parentLines[region.startLine]!)
  if (minIndent(body) === "" && want !== "") body = body.map((l) => (isBlank(l) ? "" : want + l))
  return Either.right([
    ...parentLines.slice(0, region.startLine + 1),
    ...body,
    ...parentLines.slice(region.endLine)
  ])
}

/**
 * Applies a model's response to `parentCode`: SEARCH/REPLACE blocks when present, otherwise the
 * last fenced code block as a full rewrite. See the module comment for the matching rules.
 */
export const applyResponse = (
  parentCode: string,
  responseText: string,
  options: EditOptions
): Either.Either<AppliedEdit, PatchError> => {
  const crlf = /\r\n/.test(parentCode) && (parentCode.match(/\r\n/g)?.length ?? 0) * 2 >= (parentCode.match(/\n/g)?.length ?? 0)
  const parent = toLf(parentCode)
  const parentLines = parent.split("\n")
  const response = toLf(responseText)

  const sr = parseSearchReplace(response)
  let result: Either.Either<{ lines: Array<string>; patch: string }, PatchError>
  if (sr.blocks.length > 0) {
    if (sr.unterminated) {
      return fail("no_edits", "the last SEARCH/REPLACE block is not terminated by '>>>>>>> REPLACE' (was the response cut off?)")
    }
    result = applyBlocks(parentLines, sr.blocks)
  } else {
    const fenced = fencedBlocks(response)
    const rewrite = fenced.blocks.at(-1)
    if (rewrite === undefined) {
      if (sr.unterminated) {
        return fail("no_edits", "the SEARCH/REPLACE block is not terminated by '>>>>>>> REPLACE' (was the response cut off?)")
      }
      if (fenced.unterminated) return fail("no_edits", "the code block is not closed with ``` (was the response cut off?)")
      return fail(
        "no_edits",
        options.format === "diff"
          ? "no SEARCH/REPLACE block and no fenced code block found in the response"
          : "no fenced code block (```) with the full program found in the response"
      )
    }
    result = Either.map(
      fullRewrite(parentLines, parent.endsWith("\n"), rewrite),
      (lines) => ({ lines, patch: "" })
    )
  }
  if (Either.isLeft(result)) return Either.left(result.left)
  const { lines } = result.right

  // Everything outside the regions must be byte-identical (catches edited or added markers).
  const regions = blocksOfLines(parentLines)
  if (regions.length > 0) {
    const newRegions = blocksOfLines(lines)
    const before = outsideSegments(parentLines, regions)
    const after = outsideSegments(lines, newRegions)
    if (newRegions.length !== regions.length || before.some((seg, i) => seg.join("\n") !== after[i]!.join("\n"))) {
      return fail(
        "outside_evolve_block",
        "the edit changes an EVOLVE-BLOCK marker or code outside the EVOLVE-BLOCK regions; " +
          "keep the EVOLVE-BLOCK-START/END lines and change only the code between them"
      )
    }
  }

  const lfCode = lines.join("\n")
  const code = crlf ? lfCode.replace(/\n/g, "\r\n") : lfCode
  const bytes = Buffer.byteLength(code, "utf8")
  if (bytes > options.maxCodeBytes) {
    return fail("too_large", `the new program is ${bytes} bytes, over the limit of ${options.maxCodeBytes} bytes`)
  }
  if (codeHash(code) === codeHash(parentCode)) {
    return fail("unchanged", "the edit leaves the program unchanged (ignoring trailing whitespace)")
  }
  const patch = sr.blocks.length > 0 ? result.right.patch : `full rewrite\n${lineDiff(parent, lfCode)}`
  return Either.right({ code, patch })
}

// ---------------------------------------------------------------------------------------------
// Required symbols
// ---------------------------------------------------------------------------------------------

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Whether `code` defines `name`, language-agnostically: after a definition keyword (`def`,
 * `function`, `class`, `const`, `let`, `var`, `fn`, `func`, `struct`, `type`, …), as an
 * assignment target (`name =`, `name: T =`, `name :=`), in an export list, or as a C-like
 * function definition (`double name(…) {`). Lines that are only comments are ignored.
 */
export const definesSymbol = (code: string, name: string): boolean => {
  const n = escapeRe(name)
  const patterns = [
    new RegExp(
      String.raw`\b(?:def|function\*?|class|fn|func|fun|sub|struct|enum|interface|type|trait|module|object|let|const|var|val|local|static|macro|proc|procedure)\s+\*?\s*${n}(?![\w$])`
    ),
    new RegExp(String.raw`(?:^|[\s;,(])${n}\s*(?::[^=\n]*)?:?=(?!=)`),
    new RegExp(String.raw`\bexport\s*\{[^}]*(?<![\w$])${n}(?![\w$])`),
    new RegExp(String.raw`^[\t ]*[\w<>\[\]*&:,\t ]+[\s*&]${n}\s*\([^;{}]*\)\s*(?:const\s*)?\{`)
  ]
  for (const line of toLf(code).split("\n")) {
    if (/^\s*(?:#|\/\/|--|\*|\/\*)/.test(line)) continue
    if (!line.includes(name)) continue
    if (patterns.some((re) => re.test(line))) return true
  }
  return false
}

/** The required names the parent defines but the child no longer does. */
export const missingSymbols = (parentCode: string, childCode: string, required: ReadonlyArray<string>): Array<string> =>
  required.filter((name) => definesSymbol(parentCode, name) && !definesSymbol(childCode, name))
