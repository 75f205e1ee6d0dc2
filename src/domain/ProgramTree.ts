/**
 * A program that is a tree of files, kept as ONE string wherever code travels (prompts, the
 * `code` of a Program, diffs, evaluation requests): the files packed one after another, each
 * introduced by a header line `=== evolve-file: <relative/path> ===`. A single-file program has
 * no header and is unchanged. Paths are relative, use `/`, and never climb out of the tree.
 *
 * A file's text always ends with a newline once packed (one is added to a file that lacks it).
 */

export interface TreeFile {
  readonly path: string
  readonly content: string
}

export const headerPrefix = "=== evolve-file: "
const headerSuffix = " ==="
const HEADER_RE = /^=== evolve-file: (.+) ===$/

/** The header line of `path`. */
export const header = (path: string): string => `${headerPrefix}${path}${headerSuffix}`

/** True when a line is a file header (its path is returned), else undefined. */
export const headerPath = (line: string): string | undefined => HEADER_RE.exec(line.replace(/\r$/, ""))?.[1]?.trim()

/** True when `code` is a packed tree (starts with a file header). */
export const isPacked = (code: string): boolean => code.startsWith(headerPrefix)

/**
 * Why `path` is not a valid tree path, or undefined when it is: relative, `/`-separated, no
 * `..` or `.` component, no empty component, no NUL or newline.
 */
export const invalidPath = (path: string): string | undefined => {
  if (path === "") return "empty path"
  if (/[\0\r\n]/.test(path)) return "control character in path"
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return "absolute path"
  if (path.includes("\\")) return "backslash in path (use /)"
  const parts = path.split("/")
  if (parts.some((p) => p === "..")) return "'..' in path"
  if (parts.some((p) => p === "" || p === ".")) return "empty or '.' component in path"
  return undefined
}

/** The files of a packed tree, in order (a single-file program is not a tree: see `isPacked`). */
export const unpack = (code: string): Array<TreeFile> => {
  const lines = code.replace(/\r\n/g, "\n").split("\n")
  const files: Array<TreeFile> = []
  let current: { path: string; lines: Array<string> } | undefined
  const close = () => {
    if (current === undefined) return
    const text = current.lines.join("\n")
    files.push({ path: current.path, content: text === "" ? "" : `${text.replace(/\n+$/, "")}\n` })
  }
  for (const line of lines) {
    const path = headerPath(line)
    if (path !== undefined) {
      close()
      current = { path, lines: [] }
    } else if (current !== undefined) {
      current.lines.push(line)
    }
  }
  close()
  return files
}

/** The packed text of `files` (sorted by path, so equal trees pack equally). */
export const pack = (files: ReadonlyArray<TreeFile>): string =>
  [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${header(f.path)}\n${f.content === "" || f.content.endsWith("\n") ? f.content : `${f.content}\n`}`)
    .join("")

/** A packed tree's files as a record by path. */
export const filesRecord = (code: string): Record<string, string> => Object.fromEntries(unpack(code).map((f) => [f.path, f.content]))

/** The packed text of files given as a record by path. */
export const packRecord = (files: Readonly<Record<string, string>>): string =>
  pack(Object.entries(files).map(([path, content]) => ({ path, content })))

/** Checks a tree's paths and contents: a reason per bad file (empty when all are fine). */
export const treeProblems = (files: ReadonlyArray<TreeFile>): Array<string> => {
  const problems: Array<string> = []
  const seen = new Set<string>()
  for (const f of files) {
    const bad = invalidPath(f.path)
    if (bad !== undefined) problems.push(`${f.path}: ${bad}`)
    if (seen.has(f.path)) problems.push(`${f.path}: appears twice`)
    seen.add(f.path)
    if (f.content.split("\n").some((l) => headerPath(l) !== undefined)) {
      problems.push(`${f.path}: holds a line that looks like an evolve file header ('${headerPrefix}…')`)
    }
  }
  return problems
}
