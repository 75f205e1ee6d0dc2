/**
 * Edits of a program that is a tree of files (domain/ProgramTree.ts). The answer names the file
 * each edit is for with the same header line the prompt shows (`=== evolve-file: <path> ===`);
 * under it, SEARCH/REPLACE blocks or the complete new file in a fenced block, checked by the
 * single-file rules of Edits.ts (EVOLVE-BLOCK regions, size, …). `=== evolve-delete: <path> ===`
 * deletes a file. SEARCH/REPLACE blocks before any header go to the one editable file they
 * match. Only editable files may change (those with EVOLVE-BLOCK markers, or every file with
 * `editable: all`); new files and deletions only when allowed. A failure names the file and the
 * block.
 */
import { Either } from "effect"
import { PatchError } from "../domain/Errors.js"
import { evolveBlocks } from "../domain/EvolveBlocks.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import { fail, toLf } from "./EditText.js"
import { type AppliedEdit, applyResponse, type EditOptions } from "./Edits.js"
import { lineDiff } from "./LineDiff.js"
import { parseSearchReplace } from "./SearchReplace.js"

export interface TreeOptions {
  readonly editable: "markers" | "all"
  readonly allowNewFiles: boolean
  readonly allowDeleteFiles: boolean
  /** The whole tree's size limit, in bytes. */
  readonly maxTreeBytes: number
}

export const defaultTreeOptions: TreeOptions = {
  editable: "markers",
  allowNewFiles: false,
  allowDeleteFiles: false,
  maxTreeBytes: 2 * 1024 * 1024
}

const DELETE_RE = /^=== evolve-delete: (.+) ===\s*$/

/** The paths that may change: with "markers", the files that have EVOLVE-BLOCK regions (every file when none has). */
export const editablePaths = (files: ReadonlyArray<ProgramTree.TreeFile>, editable: TreeOptions["editable"]): Set<string> => {
  if (editable === "all") return new Set(files.map((f) => f.path))
  const marked = files.filter((f) => evolveBlocks(f.content).length > 0).map((f) => f.path)
  return new Set(marked.length > 0 ? marked : files.map((f) => f.path))
}

interface Section {
  readonly path: string | undefined
  readonly remove: boolean
  readonly lines: Array<string>
}

/** The answer cut at file headers (a header inside a ``` fence counts too: the fence lines are dropped). */
const sections = (response: string): Array<Section> => {
  const out: Array<Section> = [{ path: undefined, remove: false, lines: [] }]
  for (const line of response.split("\n")) {
    const path = ProgramTree.headerPath(line)
    const removed = DELETE_RE.exec(line)?.[1]?.trim()
    if (path !== undefined) out.push({ path, remove: false, lines: [] })
    else if (removed !== undefined) out.push({ path: removed, remove: true, lines: [] })
    else out[out.length - 1]!.lines.push(line)
  }
  return out
}

/** A section's text; when it holds no complete fence and no SEARCH/REPLACE block, its lines as a fenced file. */
const sectionText = (lines: ReadonlyArray<string>): string => {
  let body = [...lines]
  const fences = body.filter((l) => /^\s*`{3,}/.test(l)).length
  if (fences === 1 || (fences === 2 && /^\s*`{3,}/.test(body.at(-1) ?? "") && !/^\s*`{3,}/.test(body.find((l) => l.trim() !== "") ?? ""))) {
    // A fence opened before the header (or closed after the next one): keep the code between.
    body = body.filter((l) => !/^\s*`{3,}/.test(l))
    while (body.length > 0 && body.at(-1)!.trim() === "") body.pop()
    while (body.length > 0 && body[0]!.trim() === "") body.shift()
    return "```\n" + body.join("\n") + "\n```"
  }
  return body.join("\n")
}

const withFile = (path: string, error: PatchError) =>
  Either.left(new PatchError({ reason: error.reason, message: `file ${path}: ${error.message}` }))

/** Applies a model's answer to a packed tree; the patch is a per-file diff against the parent. */
export const applyTreeResponse = (
  parentCode: string,
  responseText: string,
  options: EditOptions,
  tree: TreeOptions = defaultTreeOptions
): Either.Either<AppliedEdit, PatchError> => {
  const parentFiles = ProgramTree.unpack(parentCode)
  const editable = editablePaths(parentFiles, tree.editable)
  const files = new Map(parentFiles.map((f) => [f.path, f.content]))
  const fileOptions: EditOptions = { ...options, maxCodeBytes: Math.max(options.maxCodeBytes, tree.maxTreeBytes) }
  const all = sections(toLf(responseText))
  let edits = 0

  const editFile = (path: string, text: string): Either.Either<void, PatchError> => {
    const current = files.get(path)
    if (current === undefined) {
      if (!tree.allowNewFiles) {
        return fail("no_match", `file ${path} is not in the program (its files: ${[...files.keys()].join(", ")}); new files are not allowed (files.allow_new_files)`)
      }
      const bad = ProgramTree.invalidPath(path)
      if (bad !== undefined) return fail("no_edits", `file ${path}: ${bad}`)
      const rewrite = applyResponse("", text, { ...fileOptions, format: "full" })
      if (Either.isLeft(rewrite)) return withFile(path, rewrite.left)
      files.set(path, rewrite.right.code)
      edits++
      return Either.right(undefined)
    }
    if (!editable.has(path)) {
      return fail(
        "outside_evolve_block",
        `file ${path} is context, not editable (it has no EVOLVE-BLOCK markers; editable files: ${[...editable].join(", ")})`
      )
    }
    const applied = applyResponse(current, text, fileOptions)
    if (Either.isLeft(applied)) {
      if (applied.left.reason === "unchanged") return Either.right(undefined)
      return withFile(path, applied.left)
    }
    files.set(path, applied.right.code)
    edits++
    return Either.right(undefined)
  }

  for (const [k, section] of all.entries()) {
    if (section.path === undefined) {
      // Blocks before any header: each goes to the one editable file it applies to.
      const parsed = parseSearchReplace(section.lines.join("\n"))
      for (const [i, block] of parsed.blocks.entries()) {
        const text = `<<<<<<< SEARCH\n${block.search.join("\n")}\n=======\n${block.replace.join("\n")}${block.replace.length > 0 ? "\n" : ""}>>>>>>> REPLACE`
        const fits = [...editable].filter((p) => Either.isRight(applyResponse(files.get(p)!, text, fileOptions)))
        if (fits.length !== 1) {
          return fail(
            "no_match",
            `SEARCH/REPLACE block ${i + 1} before any file header ${fits.length === 0 ? "matches no editable file" : `matches several files (${fits.join(", ")})`}; ` +
              `put '${ProgramTree.header("<path>")}' on the line before the blocks of each file`
          )
        }
        const done = editFile(fits[0]!, text)
        if (Either.isLeft(done)) return Either.left(done.left)
      }
      if (parsed.unterminated && k === all.length - 1) {
        return fail("no_edits", "the last SEARCH/REPLACE block is not terminated by '>>>>>>> REPLACE' (was the response cut off?)")
      }
      continue
    }
    const path = section.path
    if (section.remove) {
      if (!files.has(path)) return fail("no_match", `cannot delete file ${path}: it is not in the program`)
      if (!tree.allowDeleteFiles) return fail("no_edits", `cannot delete file ${path}: deletions are not allowed (files.allow_delete_files)`)
      if (!editable.has(path)) return fail("outside_evolve_block", `cannot delete file ${path}: it is context, not editable`)
      files.delete(path)
      edits++
      continue
    }
    const done = editFile(path, sectionText(section.lines))
    if (Either.isLeft(done)) return Either.left(done.left)
  }

  if (files.size === 0) return fail("no_edits", "the edit deletes every file of the program")
  const newFiles = [...files].map(([path, content]) => ({ path, content }))
  const code = ProgramTree.pack(newFiles)
  const bytes = Buffer.byteLength(code, "utf8")
  if (bytes > tree.maxTreeBytes) return fail("too_large", `the new program is ${bytes} bytes, over the limit of ${tree.maxTreeBytes} bytes`)
  if (edits === 0 || code === ProgramTree.pack(parentFiles)) {
    if (all.every((s) => s.path === undefined) && parseSearchReplace(all[0]!.lines.join("\n")).blocks.length === 0) {
      return fail("no_edits", `no SEARCH/REPLACE block and no file header ('${ProgramTree.header("<path>")}') found in the response`)
    }
    return fail("unchanged", "the edit leaves the program unchanged (ignoring trailing whitespace)")
  }
  return Either.right({ code, patch: treeDiff(parentCode, code) })
}

/** Per-file unified diff between two packed trees (or a file and a tree), files in path order. */
export const treeDiff = (before: string, after: string): string => {
  const a = new Map(ProgramTree.isPacked(before) ? ProgramTree.unpack(before).map((f) => [f.path, f.content]) : [["program", before]])
  const b = new Map(ProgramTree.isPacked(after) ? ProgramTree.unpack(after).map((f) => [f.path, f.content]) : [["program", after]])
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort()
  const out: Array<string> = []
  for (const path of paths) {
    const x = a.get(path)
    const y = b.get(path)
    if (x === y) continue
    const title = x === undefined ? `${path} (new file)` : y === undefined ? `${path} (deleted)` : path
    out.push(`--- ${title}\n${lineDiff(x ?? "", y ?? "")}`)
  }
  return out.join("\n")
}
