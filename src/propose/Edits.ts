/**
 * Turning a model's answer into a new program: SEARCH/REPLACE blocks when present
 * (SearchReplace.ts), else the last fenced code block as a full rewrite (FullRewrite.ts); then
 * the checks every edit passes: everything outside the EVOLVE-BLOCK regions byte-identical, the
 * size limit, a real change. Pure functions; failures are `PatchError`s with a message that can
 * be sent back to the model (Prompt.ts states the same rules to the model). CRLF in the response
 * or the parent is tolerated; a CRLF parent keeps its CRLF endings.
 */
import { createHash } from "node:crypto"
import { Either } from "effect"
import * as CodeFences from "../domain/CodeFences.js"
import type { PatchError } from "../domain/Errors.js"
import { blocksOfLines, outsideSegments } from "../domain/EvolveBlocks.js"
import { fail, rstrip, toLf } from "./EditText.js"
import { fullRewrite } from "./FullRewrite.js"
import { lineDiff } from "./LineDiff.js"
import { applyBlocks, parseSearchReplace } from "./SearchReplace.js"

export { type EvolveBlock, evolveBlocks } from "../domain/EvolveBlocks.js"
export { definesSymbol, missingSymbols } from "../domain/Symbols.js"
export { lineDiff } from "./LineDiff.js"

export interface EditOptions {
  readonly format: "diff" | "full"
  readonly maxCodeBytes: number
}

export interface AppliedEdit {
  readonly code: string
  /** The SEARCH/REPLACE blocks as applied (re-appliable to the parent), or "full rewrite" + a diff. */
  readonly patch: string
}

/** Code normalised for identity: LF endings, no trailing whitespace per line, no trailing blank lines. */
export const normalizeCode = (code: string): string => toLf(code).split("\n").map(rstrip).join("\n").replace(/\n+$/, "")

/** sha256 (hex) of the normalised code: programs differing only in trailing whitespace hash equal. */
export const codeHash = (code: string): string => createHash("sha256").update(normalizeCode(code)).digest("hex")

/** Every complete fenced code block's code, in order (see CodeFences.parse). */
export const fencedBlocks = (text: string): { blocks: Array<string>; unterminated: boolean } => {
  const { blocks, unterminated } = CodeFences.parse(text)
  return { blocks: blocks.map((block) => block.code), unterminated }
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
