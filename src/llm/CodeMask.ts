/**
 * Where the code of a line is: string literals and comments blanked out, so that the offline
 * mutator's regexes see only code. The comment style comes from the fence's language, else
 * from the look of the code.
 */

export type CommentStyle = "hash" | "slash" | "dash"

const HASH_LANGS = new Set(["python", "py", "python3", "ruby", "rb", "sh", "bash", "r", "julia", "jl", "perl", "nim", "crystal"])
const DASH_LANGS = new Set(["sql", "lua", "haskell", "hs", "elm", "ada"])

export const commentStyle = (info: string, code: string): CommentStyle => {
  if (HASH_LANGS.has(info)) return "hash"
  if (DASH_LANGS.has(info)) return "dash"
  if (info !== "") return "slash"
  return /^\s*(def|import|from)\s/m.test(code) && !/[{};]\s*$/m.test(code) ? "hash" : "slash"
}

/** The line with string literals and comments blanked out (same length), so regexes see only code. */
export const maskLine = (line: string, style: CommentStyle): string => {
  let out = ""
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== null) {
      if (c === "\\") {
        out += "  "
        i++
        continue
      }
      if (c === quote) quote = null
      out += " "
      continue
    }
    if (c === "\"" || c === "'" || c === "`") {
      quote = c
      out += " "
      continue
    }
    const rest = line.slice(i)
    if (
      (style === "hash" && c === "#") ||
      (style === "slash" && (rest.startsWith("//") || rest.startsWith("/*"))) ||
      (style === "dash" && rest.startsWith("--"))
    ) {
      return out + " ".repeat(line.length - i)
    }
    out += c
  }
  return out
}

export const isCommentLine = (line: string): boolean => /^\s*(#|\/\/|\/\*|\*|--|<!--)/.test(line)
