/**
 * gitignore-style patterns, enough for `.gitignore` files and `files.include` / `files.exclude`:
 * `*` and `?` within a path component, `**` across components, a trailing `/` for directories
 * only, a leading (or inner) `/` anchoring the pattern at the root, a leading `!` re-including.
 * A pattern without a `/` matches a name at any depth.
 */

export interface Pattern {
  readonly negate: boolean
  readonly dirOnly: boolean
  readonly re: RegExp
}

const escape = (c: string) => /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c

const globBody = (glob: string): string => {
  let out = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // "**/" any number of directories; "/**" everything below; a lone "**" anything.
        if (glob[i + 2] === "/") {
          out += "(?:.*/)?"
          i += 2
        } else {
          out += ".*"
          i += 1
        }
      } else {
        out += "[^/]*"
      }
    } else if (c === "?") {
      out += "[^/]"
    } else {
      out += escape(c)
    }
  }
  return out
}

/** One pattern, or undefined for a blank line or a comment. */
export const parse = (line: string): Pattern | undefined => {
  let text = line.replace(/\s+$/, "")
  if (text === "" || text.startsWith("#")) return undefined
  const negate = text.startsWith("!")
  if (negate) text = text.slice(1)
  const dirOnly = text.endsWith("/")
  if (dirOnly) text = text.replace(/\/+$/, "")
  const anchored = text.includes("/")
  text = text.replace(/^\/+/, "")
  if (text === "") return undefined
  const body = globBody(text)
  // A match of a directory covers everything under it.
  const re = new RegExp(`^${anchored ? "" : "(?:.*/)?"}${body}$`)
  return { negate, dirOnly, re }
}

export const parseAll = (lines: ReadonlyArray<string>): Array<Pattern> =>
  lines.flatMap((l) => {
    const p = parse(l)
    return p === undefined ? [] : [p]
  })

/**
 * Whether `path` (relative, `/`-separated) is matched by `patterns`: the last matching pattern
 * wins (a `!` pattern un-matches). `isDir` tells whether `path` is a directory.
 */
export const matches = (patterns: ReadonlyArray<Pattern>, path: string, isDir: boolean): boolean => {
  let hit = false
  for (const p of patterns) {
    if (p.dirOnly && !isDir) continue
    if (p.re.test(path)) hit = !p.negate
  }
  return hit
}
