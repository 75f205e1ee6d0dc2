/**
 * PyYAML accepts a quoted scalar whose continuation lines are indented no deeper than its key
 * (OpenEvolve's attention_optimization config.yaml has a 70-line `system_message: "` so); the
 * `yaml` package follows the spec and refuses it. `indentQuotedContinuations` indents those
 * lines one column past the key. The value does not change: a quoted scalar's line breaks fold
 * and the leading white space of each continuation line is dropped.
 */

/** A line whose value (after `key:` or `- `) opens a quoted scalar. */
const opening = /^( *)(?:- +)*(?:[^\s#"'\-[{][^#"']*?: +|- +)?(["'])/

/** Where the quoted scalar opened at `from` (just after the quote) closes on `line`, or -1. */
const closingIndex = (line: string, from: number, quote: string): number => {
  for (let i = from; i < line.length; i++) {
    const c = line[i]
    if (quote === "\"" && c === "\\") i++
    else if (c === quote) {
      if (quote === "'" && line[i + 1] === "'") i++
      else return i
    }
  }
  return -1
}

export const indentQuotedContinuations = (text: string): string => {
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const match = opening.exec(lines[i]!)
    if (match === null) continue
    const quote = match[2]!
    if (closingIndex(lines[i]!, match[0].length, quote) >= 0) continue
    const minimum = match[1]!.length + 1
    for (i = i + 1; i < lines.length; i++) {
      const line = lines[i]!
      const indent = line.length - line.trimStart().length
      if (line.trim() !== "" && indent < minimum) lines[i] = " ".repeat(minimum - indent) + line
      if (closingIndex(line, 0, quote) >= 0) break
    }
  }
  return lines.join("\n")
}
