import { Context, Effect, Layer } from "effect"
import type { HLJSApi } from "highlight.js"

const aliases: Record<string, string> = {
  "c++": "cpp",
  shell: "bash",
  text: "plaintext"
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

/** Code as HTML with highlight.js classes (style with any highlight.js theme). */
export class Highlighter extends Context.Tag("evolve/Highlighter")<Highlighter, {
  /** Escaped plain text when the language is unknown. */
  readonly toHtml: (code: string, language: string) => Effect.Effect<string>
}>() {}

/** A highlighter over `load`, which runs once, on first use. */
export const make = (load: Effect.Effect<HLJSApi>) =>
  Effect.map(Effect.cached(load), (hljs) =>
    Highlighter.of({
      toHtml: (code, language) =>
        Effect.map(hljs, (h) => {
          const name = aliases[language] ?? language
          if (h.getLanguage(name) === undefined) return escapeHtml(code)
          return h.highlight(code, { language: name, ignoreIllegals: true }).value
        })
    }))

// highlight.js (about 1 MB of grammars) loads when a program is first highlighted, never at start-up.
const loadHighlightJs = Effect.promise(() => import("highlight.js/lib/common").then((m) => m.default))

export const layer = Layer.effect(Highlighter, make(loadHighlightJs))
