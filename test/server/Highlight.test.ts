import { Effect } from "effect"
import hljs from "highlight.js/lib/common"
import { describe, expect, it } from "vitest"
import * as Highlight from "../../src/server/Highlight.js"

describe("Highlighter", () => {
  it("loads highlight.js once, on first use, however often it highlights", async () => {
    let loads = 0
    const load = Effect.sync(() => {
      loads++
      return hljs
    })
    const html = await Effect.runPromise(Effect.gen(function*() {
      const highlighter = yield* Highlight.make(load)
      expect(loads).toBe(0)
      const first = yield* highlighter.toHtml("const x = 1", "javascript")
      yield* highlighter.toHtml("def f(): pass", "python")
      yield* Effect.all([highlighter.toHtml("a", "text"), highlighter.toHtml("b", "c++")], { concurrency: 2 })
      return first
    }))
    expect(loads).toBe(1)
    expect(html).toContain("hljs-keyword")
  })

  it("escapes code in a language it does not know", async () => {
    const html = await Effect.runPromise(
      Effect.flatMap(Highlight.make(Effect.succeed(hljs)), (h) => h.toHtml("<b>&\"'</b>", "brainfuck-9000"))
    )
    expect(html).toBe("&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;")
  })
})
