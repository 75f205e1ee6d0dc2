/**
 * Whether a program defines a name, language-agnostically: the one rule behind a run's
 * required symbols (src/propose) and llmBatch's `requireSymbol` validator
 * (`evolve generate --validate-symbol`, src/llm).
 *
 * A definition is any of:
 * - a definition keyword before the name: `def`, `function` (and `function*`), `class`, `fn`,
 *   `func`, `fun`, `sub`, `struct`, `enum`, `interface`, `type`, `trait`, `module`, `object`,
 *   `let`, `const`, `var`, `val`, `local`, `static`, `macro`, `proc`, `procedure`; a Go method
 *   (`func (r *T) name(`);
 * - an assignment target: `name = …`, `name: T = …`, `name := …`, `a, name = …`; not inside
 *   brackets opened on the same line (keyword arguments, default parameters), and not `==`,
 *   `=>`, `<=`, `>=`, `!=`;
 * - a name in an export list: `export { a, name }`;
 * - a function or method without a keyword: `double name(int a) {`, `Foo::name() const {`,
 *   `public int name(Order o)` with `{` on the next line, a class method `name(a, b) {`,
 *   `async name(a): T {`. The parameters must be balanced (one level of nesting), so a call
 *   passing a callback (`name(a, function() {`) is not a definition.
 * Lines that are only a comment never count.
 */

const KEYWORDS =
  "def|function|class|fn|func|fun|sub|struct|enum|interface|type|trait|module|object|let|const|var|val|local|static|macro|proc|procedure"

/** Words that start a statement, never a return type or modifier. */
const STATEMENT_WORDS = "return|new|else|throw|await|yield|case|delete|typeof|do|goto|in|of|and|or|not|if|while|for|switch|catch"

const COMMENT_LINE = /^\s*(?:#|\/\/|--|\*|\/\*)/

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

type Patterns = ReturnType<typeof compile>

/** Compiled once per name (a run checks the same few names on every proposal). */
const compiled = new Map<string, Patterns>()
const patternsFor = (name: string): Patterns => {
  let p = compiled.get(name)
  if (p === undefined) {
    if (compiled.size >= 256) compiled.clear()
    p = compile(escapeRe(name))
    compiled.set(name, p)
  }
  return p
}

const compile = (n: string) => {
  const params = String.raw`\((?:[^;{}()]|\([^;{}()]*\))*\)`
  // Between `)` and `{`: qualifiers, a `throws` list, a return type (`-> T`, `: T`); nothing else.
  const suffix = String.raw`\s*(?:(?:const|noexcept|override|final)\b\s*)*` +
    String.raw`(?:throws[\t ]+[\w$.]+(?:[\t ]*,[\t ]*[\w$.]+)*\s*)?` +
    String.raw`(?:(?:->|:)[\t ]*[\w$.<>\[\]|&?, ]+?\s*)?\{`
  const token = String.raw`(?!(?:${STATEMENT_WORDS})\b)[\w$<>\[\]:,.]+`
  return {
    keyword: new RegExp(String.raw`\b(?:function[\t ]*\*|(?:${KEYWORDS})[\t ]+\*?)[\t ]*${n}(?![\w$])`, "m"),
    goMethod: new RegExp(String.raw`\b(?:fn|func|fun)[\t ]*\([^)\n]*\)[\t ]*${n}[\t ]*[(<\[]`, "m"),
    exportList: new RegExp(String.raw`\bexport[\t ]*\{[^}]*(?<![\w$])${n}(?![\w$])`, "m"),
    signature: new RegExp(String.raw`^[\t ]*(?:${token}[\t *&]+)*(?:[\w$]+::)*\*?${n}[\t ]*(?:<[^>\n]*>)?[\t ]*${params}${suffix}`, "m"),
    assignment: new RegExp(String.raw`(?:^|[\s;,(])${n}[\t ]*(?::[^=\n]*)?(?<![<>!=+\-*/%&|^:])(?::=|=)(?![=>])`, "gm")
  }
}

/** Brackets opened and not closed between the start of the line holding `index` and `index`. */
const openBrackets = (text: string, index: number): number => {
  let depth = 0
  for (let i = text.lastIndexOf("\n", index - 1) + 1; i < index; i++) {
    const c = text.charCodeAt(i)
    if (c === 40 || c === 91) depth++ // ( [
    else if ((c === 41 || c === 93) && depth > 0) depth-- // ) ]
  }
  return depth
}

export const definesSymbol = (code: string, name: string): boolean => {
  if (name === "" || !code.includes(name)) return false
  const text = code
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((line) => (COMMENT_LINE.test(line) ? "" : line))
    .join("\n")
  const p = patternsFor(name)
  if (p.keyword.test(text) || p.goMethod.test(text) || p.exportList.test(text) || p.signature.test(text)) return true
  for (const m of text.matchAll(p.assignment)) {
    const at = m.index + m[0].indexOf(name)
    if (openBrackets(text, at) === 0) return true
  }
  return false
}

/** The required names the parent defines but the child no longer does. */
export const missingSymbols = (parentCode: string, childCode: string, required: ReadonlyArray<string>): Array<string> =>
  required.filter((name) => definesSymbol(parentCode, name) && !definesSymbol(childCode, name))
