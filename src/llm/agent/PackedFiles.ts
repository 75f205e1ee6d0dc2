/**
 * A program of several files packed into one text: each file starts with a header line
 * `=== evolve-file: <path> ===` and runs to the next header. The agent provider unpacks such a
 * program into files for the agent and packs the files back (one place, swappable for the
 * program tree's own format).
 */

export interface PackedFile {
  /** A relative path with `/` separators, no `..` segment. */
  readonly path: string
  readonly content: string
}

const header = /^=== evolve-file: (.+?) ===$/

/** True when `code` is a packed multi-file program (its first non-blank line is a header). */
export const isPacked = (code: string): boolean => {
  const first = code.split("\n").find((line) => line.trim() !== "")
  return first !== undefined && header.test(first.replace(/\r$/, ""))
}

/** Why `path` may not be written under a scratch dir, or undefined when it may. */
export const unsafePath = (path: string): string | undefined =>
  path.startsWith("/") || path.includes("\\") || path.includes("\0")
    ? `${JSON.stringify(path)} is not a relative path`
    : path.split("/").some((seg) => seg === ".." || seg === "." || seg === "")
    ? `${JSON.stringify(path)} has an empty, "." or ".." segment`
    : undefined

/** The files of a packed program, in order; text before the first header is dropped. */
export const unpack = (code: string): Array<PackedFile> => {
  const files: Array<{ path: string; lines: Array<string> }> = []
  for (const line of code.split("\n")) {
    const match = header.exec(line.replace(/\r$/, ""))
    if (match !== null) files.push({ path: match[1]!.trim(), lines: [] })
    else files.at(-1)?.lines.push(line)
  }
  return files.map((f) => ({ path: f.path, content: f.lines.join("\n") }))
}

/** The packed text of `files` (the inverse of `unpack` for files as `unpack` returns them). */
export const pack = (files: ReadonlyArray<PackedFile>): string =>
  files.map((f) => `=== evolve-file: ${f.path} ===\n${f.content}`).join("\n")
