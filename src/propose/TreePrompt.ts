/**
 * The parts of a prompt for a program that is a tree of files: the files that may change (the
 * current program's last code block, each under its `=== evolve-file: <path> ===` header), the
 * tree with every file's size and role, the context files (not editable) within a character
 * budget, the rules for naming files in an answer, and the current program's last change.
 */
import { evolveBlocks } from "../domain/EvolveBlocks.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import { editablePaths, type TreeOptions } from "./TreeEdits.js"

export interface TreePromptOptions extends TreeOptions {
  /** Characters of context files shown. */
  readonly contextChars: number
}

/** The packed text of the editable files of `code` (the code itself when it is not a tree). */
export const editableText = (code: string, editable: TreeOptions["editable"]): string => {
  if (!ProgramTree.isPacked(code)) return code
  const files = ProgramTree.unpack(code)
  const paths = editablePaths(files, editable)
  return ProgramTree.pack(files.filter((f) => paths.has(f.path)))
}

/** "# Project files": the tree listing and the context files' text, within `contextChars`. */
export const projectSection = (code: string, options: TreePromptOptions, fenced: (code: string) => string): string => {
  const files = ProgramTree.unpack(code)
  const paths = editablePaths(files, options.editable)
  const listing = files.map((f) => {
    const regions = evolveBlocks(f.content).length
    const role = paths.has(f.path) ? (regions > 0 ? `editable, ${regions} EVOLVE-BLOCK region(s)` : "editable") : "context, read-only"
    return `- ${f.path} (${Buffer.byteLength(f.content)} bytes, ${role})`
  })
  const out = [`# Project files\nThe program is a directory of ${files.length} files:\n${listing.join("\n")}`]
  let budget = options.contextChars
  const omitted: Array<string> = []
  for (const f of files) {
    if (paths.has(f.path)) continue
    if (f.content.length > budget) {
      omitted.push(f.path)
      continue
    }
    budget -= f.content.length
    out.push(`## ${f.path} (context, read-only)\n${fenced(f.content)}`)
  }
  if (omitted.length > 0) out.push(`(Not shown, over the prompt's budget for context files: ${omitted.join(", ")}.)`)
  return out.join("\n\n")
}

/** Extra edit rules for a tree. */
export const treeRules = (options: TreeOptions, format: "diff" | "full"): string =>
  [
    "",
    "The program is several files. In the current program, each file starts with a line",
    `'${ProgramTree.header("<path>")}'. Before the ${format === "diff" ? "SEARCH/REPLACE blocks" : "complete new text in a fenced code block"} of each file you change,`,
    "write that file's header line, exactly; change only the files shown under the current program.",
    ...(options.allowNewFiles ? ["To add a file, write a header with its new path followed by its complete text in a fenced code block."] : []),
    ...(options.allowDeleteFiles ? [`To delete a file, write the line '=== evolve-delete: <path> ==='.`] : [])
  ].join("\n")

/** The current program's change against its own parent, clipped. */
export const lastChangeSection = (patch: string | null | undefined, maxChars: number): string => {
  if (patch === null || patch === undefined || patch.trim() === "") return ""
  const text = patch.length > maxChars ? `${patch.slice(0, maxChars)}\n… (truncated)` : patch
  return `# The current program's last change (against its parent)\n${text.split("\n").map((l) => `> ${l}`).join("\n")}`
}
