import { Effect } from "effect"

const aliases: Record<string, string> = {
  "c++": "cpp",
  shell: "bash",
  text: "plaintext"
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

// highlight.js (about 1 MB of grammars) loads on first use, never at CLI start-up.
const hljs = Effect.cached(Effect.promise(() => import("highlight.js/lib/common").then((m) => m.default)))

/** The code as HTML with highlight.js classes (style with any highlight.js theme); escaped text when the language is unknown. */
export const toHtml = (code: string, language: string) =>
  Effect.flatten(hljs).pipe(
    Effect.map((h) => {
      const name = aliases[language] ?? language
      if (h.getLanguage(name) === undefined) return escapeHtml(code)
      return h.highlight(code, { language: name, ignoreIllegals: true }).value
    })
  )
