import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Random } from "effect"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import * as OfflineModel from "../../src/llm/OfflineModel.js"
import { buildPrompt } from "../../src/propose/Prompt.js"
import { applyTreeResponse, defaultTreeOptions, treeDiff } from "../../src/propose/TreeEdits.js"

const tree = ProgramTree.pack([
  { path: "pkg/fast.py", content: "def helper():\n    return 1\n\n# EVOLVE-BLOCK-START\ndef solve(xs):\n    return sorted(xs)[:3]\n# EVOLVE-BLOCK-END\n" },
  { path: "pkg/util.py", content: "def size(xs):\n    return len(xs)\n" },
  { path: "main.py", content: "from pkg.fast import solve\n# EVOLVE-BLOCK-START\nLIMIT = 10\n# EVOLVE-BLOCK-END\nprint(solve([3, 1, 2]))\n" }
])
const options = { format: "diff", maxCodeBytes: 1 << 20 } as const
const apply = (response: string, tree_ = tree, more: Partial<typeof defaultTreeOptions> = {}) =>
  applyTreeResponse(tree_, response, options, { ...defaultTreeOptions, ...more })
const sr = (search: string, replace: string) => `<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE`
const fileOf = (code: string, path: string) => ProgramTree.unpack(code).find((f) => f.path === path)?.content

describe("applyTreeResponse", () => {
  it("applies SEARCH/REPLACE blocks under file headers to their files, with a per-file diff as the patch", () => {
    const result = apply(
      `Faster.\n=== evolve-file: pkg/fast.py ===\n${sr("    return sorted(xs)[:3]", "    return sorted(xs)[:2]")}\n` +
        `=== evolve-file: main.py ===\n${sr("LIMIT = 10", "LIMIT = 20")}\n`
    )
    expect(Either.isRight(result)).toBe(true)
    if (Either.isLeft(result)) return
    expect(fileOf(result.right.code, "pkg/fast.py")).toContain("[:2]")
    expect(fileOf(result.right.code, "main.py")).toContain("LIMIT = 20")
    expect(fileOf(result.right.code, "pkg/util.py")).toBe("def size(xs):\n    return len(xs)\n")
    expect(result.right.patch).toMatch(/^--- main\.py\n/)
    expect(result.right.patch).toContain("--- pkg/fast.py\n")
    expect(result.right.patch).toContain("+    return sorted(xs)[:2]")
  })

  it("sends a block without a header to the one editable file it matches", () => {
    const result = apply(sr("LIMIT = 10", "LIMIT = 11"))
    expect(Either.isRight(result) && fileOf(result.right.code, "main.py")).toContain("LIMIT = 11")
    const none = apply(sr("nothing like this", "x"))
    expect(Either.isLeft(none) && none.left.message).toMatch(/block 1 before any file header matches no editable file/)
  })

  it("says which file and block did not apply, refuses context files and code outside the regions", () => {
    const miss = apply(`=== evolve-file: main.py ===\n${sr("LIMIT = 10", "LIMIT = 1")}\n${sr("LIMIT = 99", "LIMIT = 2")}`)
    expect(Either.isLeft(miss) && miss.left.message).toMatch(/^file main\.py: SEARCH block 2 of 2 does not match/)
    const context = apply(`=== evolve-file: pkg/util.py ===\n${sr("    return len(xs)", "    return 0")}`)
    expect(Either.isLeft(context) && context.left.message).toMatch(/file pkg\/util\.py is context, not editable/)
    const outside = apply(`=== evolve-file: pkg/fast.py ===\n${sr("    return 1", "    return 2")}`)
    expect(Either.isLeft(outside) && outside.left.message).toMatch(/^file pkg\/fast\.py: .*outside the EVOLVE-BLOCK/)
    const all = apply(`=== evolve-file: pkg/util.py ===\n${sr("    return len(xs)", "    return 0")}`, tree, { editable: "all" })
    expect(Either.isRight(all)).toBe(true)
  })

  it("rewrites a whole file from a fenced block, adds and deletes files only when allowed", () => {
    const rewrite = apply("=== evolve-file: main.py ===\n```python\nfrom pkg.fast import solve\n# EVOLVE-BLOCK-START\nLIMIT = 5\n# EVOLVE-BLOCK-END\nprint(solve([3, 1, 2]))\n```\n")
    expect(Either.isRight(rewrite) && fileOf(rewrite.right.code, "main.py")).toContain("LIMIT = 5")
    const add = "=== evolve-file: pkg/new.py ===\n```python\nX = 1\n```\n"
    expect(Either.isLeft(apply(add)) && (apply(add) as Either.Left<{ message: string }, unknown>).left.message).toMatch(/new files are not allowed/)
    const added = apply(add, tree, { allowNewFiles: true })
    expect(Either.isRight(added) && fileOf(added.right.code, "pkg/new.py")).toBe("X = 1\n")
    const climb = apply("=== evolve-file: ../evil.py ===\n```\nX\n```\n", tree, { allowNewFiles: true })
    expect(Either.isLeft(climb) && climb.left.message).toMatch(/'\.\.'/)
    const del = "=== evolve-delete: main.py ===\n"
    expect(Either.isLeft(apply(del))).toBe(true)
    const deleted = apply(del, tree, { allowDeleteFiles: true })
    expect(Either.isRight(deleted) && fileOf(deleted.right.code, "main.py")).toBeUndefined()
    expect(Either.isRight(deleted) && deleted.right.patch).toContain("--- main.py (deleted)")
  })

  it("reports an answer without edits, and an unchanged tree", () => {
    expect(Either.isLeft(apply("I cannot help.")) && (apply("I cannot help.") as Either.Left<{ reason: string }, unknown>).left.reason).toBe("no_edits")
    const same = apply(`=== evolve-file: main.py ===\n${sr("LIMIT = 10", "LIMIT = 10")}`)
    expect(Either.isLeft(same) && same.left.reason).toBe("unchanged")
  })

  it("treeDiff lists changed, new and deleted files", () => {
    const after = ProgramTree.pack([{ path: "a.py", content: "x = 2\n" }, { path: "c.py", content: "new\n" }])
    const before = ProgramTree.pack([{ path: "a.py", content: "x = 1\n" }, { path: "b.py", content: "old\n" }])
    expect(treeDiff(before, after)).toMatch(/--- a\.py\n[\s\S]*--- b\.py \(deleted\)[\s\S]*--- c\.py \(new file\)/)
  })
})

describe("prompts and the offline model for a tree", () => {
  const prompt = buildPrompt({
    goal: "Be fast",
    language: "python",
    editFormat: "diff",
    parent: { code: tree, metrics: null, score: 0.5, feedback: null, patch: "--- main.py\n-LIMIT = 9\n+LIMIT = 10" },
    inspirations: [],
    recentFailures: [],
    tree: { ...defaultTreeOptions, contextChars: 10_000 }
  })

  it("shows the tree, the context files, the last change, and the editable files last", () => {
    expect(prompt.user).toContain("- pkg/util.py (33 bytes, context, read-only)")
    expect(prompt.user).toContain("- main.py (")
    expect(prompt.user).toContain("## pkg/util.py (context, read-only)")
    expect(prompt.user).toContain("> +LIMIT = 10")
    expect(prompt.system).toContain("=== evolve-file: <path> ===")
    const last = prompt.user.slice(prompt.user.lastIndexOf("```python"))
    expect(last).toContain("=== evolve-file: main.py ===")
    expect(last).toContain("=== evolve-file: pkg/fast.py ===")
    expect(last).not.toContain("pkg/util.py")
  })

  it.effect("the offline model edits one file under its header, and the answer applies", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 10; i++) {
        const text = yield* OfflineModel.respond(prompt.user)
        expect(text).toMatch(/=== evolve-file: (main\.py|pkg\/fast\.py) ===\n<<<<<<< SEARCH/)
        const applied = apply(text)
        expect(Either.isRight(applied), text + JSON.stringify(applied)).toBe(true)
      }
    }).pipe(Effect.withRandom(Random.make(7))))
})
