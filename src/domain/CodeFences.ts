/** Fenced code blocks in a model's markdown answer (shared by the proposer, the offline model and llmBatch). */

export interface CodeBlock {
  /** The info string's first word, lower-cased ("python", "ts", or "" when absent). */
  readonly info: string
  readonly code: string
}

/**
 * Every complete fenced block (``` or ~~~, any length ≥ 3, closed by a fence of the same
 * character at least as long), in order; `unterminated` when the last fence never closes (a
 * truncated answer).
 */
export const parse = (text: string): { readonly blocks: Array<CodeBlock>; readonly unterminated: boolean } => {
  const lines = text.replace(/\r\n?/g, "\n").split("\n")
  const blocks: Array<CodeBlock> = []
  let i = 0
  while (i < lines.length) {
    const open = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!)
    if (!open) {
      i++
      continue
    }
    const fence = open[1]!
    const close = new RegExp(String.raw`^\s*${fence[0] === "`" ? "`" : "~"}{${fence.length},}\s*$`)
    let j = i + 1
    while (j < lines.length && !close.test(lines[j]!)) j++
    if (j >= lines.length) return { blocks, unterminated: true }
    blocks.push({ info: open[2]!.toLowerCase(), code: lines.slice(i + 1, j).join("\n") })
    i = j + 1
  }
  return { blocks, unterminated: false }
}
