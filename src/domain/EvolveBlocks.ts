/**
 * EVOLVE-BLOCK regions: the parts of a program between an `EVOLVE-BLOCK-START` and an
 * `EVOLVE-BLOCK-END` marker comment (`#`, `//`, `--`, `/*`, `<!--`, `;`, `%` or `*` before the
 * word). Only these may change when a program has any. Shared by the edit rules (propose) and
 * the offline mutator (llm).
 */

/** One region: 0-based indexes of its marker lines (`endLine` = line count when unterminated). */
export interface EvolveBlock {
  readonly startLine: number
  readonly endLine: number
}

const markerRe = (word: "START" | "END") =>
  new RegExp(String.raw`^\s*(?:#+|\/\/+|--+|\/\*+|<!--|;+|%+|\*)\s*EVOLVE-BLOCK-${word}\b`)

const START_RE = markerRe("START")
const END_RE = markerRe("END")

export const isStartMarker = (line: string): boolean => START_RE.test(line)
export const isEndMarker = (line: string): boolean => END_RE.test(line)

/** The regions of a program given as lines, in order. */
export const blocksOfLines = (lines: ReadonlyArray<string>): Array<EvolveBlock> => {
  const blocks: Array<EvolveBlock> = []
  let i = 0
  while (i < lines.length) {
    if (isStartMarker(lines[i]!)) {
      let j = i + 1
      while (j < lines.length && !isEndMarker(lines[j]!)) j++
      blocks.push({ startLine: i, endLine: j })
      i = j + 1
    } else {
      i++
    }
  }
  return blocks
}

/** The regions of `code` (LF or CRLF line endings), in order. */
export const evolveBlocks = (code: string): ReadonlyArray<EvolveBlock> => blocksOfLines(code.replace(/\r\n?/g, "\n").split("\n"))

/** The text outside the regions, marker lines included: `blocks.length + 1` segments. */
export const outsideSegments = (lines: ReadonlyArray<string>, blocks: ReadonlyArray<EvolveBlock>): Array<Array<string>> => {
  const segments: Array<Array<string>> = []
  let from = 0
  for (const b of blocks) {
    segments.push(lines.slice(from, b.startLine + 1))
    from = b.endLine
  }
  segments.push(lines.slice(from))
  return segments
}

/** The lines inside each region, marker lines excluded. */
export const interiors = (lines: ReadonlyArray<string>, blocks: ReadonlyArray<EvolveBlock>): Array<Array<string>> =>
  blocks.map((b) => lines.slice(b.startLine + 1, b.endLine))

/** "lines 3–9, lines 20–31" (1-based). */
export const describeBlocks = (blocks: ReadonlyArray<EvolveBlock>): string =>
  blocks.map((b) => `lines ${b.startLine + 1}–${b.endLine + 1}`).join(", ")
