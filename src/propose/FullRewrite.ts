/**
 * A full rewrite (the last fenced code block of an answer) under the EVOLVE-BLOCK rules: with
 * regions, the rewrite keeps every marker and changes only code between them; with a single
 * region, a rewrite without markers is the region's new contents (or the whole program with the
 * marker lines dropped), re-indented when it came back flush-left.
 */
import { Either } from "effect"
import type { PatchError } from "../domain/Errors.js"
import { blocksOfLines, interiors, outsideSegments } from "../domain/EvolveBlocks.js"
import { endsWithLines, fail, isBlank, leadingWs, minIndent, quote, rstrip, sameLoosely, trimBlankEnds, trimLeadingBlank } from "./EditText.js"

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

/** The program after a full rewrite of `parentLines` (LF lines), or why the rewrite breaks the EVOLVE-BLOCK rules. */
export const fullRewrite = (
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
