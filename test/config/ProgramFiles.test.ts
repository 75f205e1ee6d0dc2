import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ProgramFiles from "../../src/config/ProgramFiles.js"
import { FilesConfig } from "../../src/domain/RunConfig.js"

const tree = (files: Record<string, string>) => {
  const root = mkdtempSync(join(tmpdir(), "evolve-tree-"))
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, ".."), { recursive: true })
    writeFileSync(join(root, rel), text)
  }
  return root
}
const read = (root: string, files: Partial<typeof FilesConfig.Encoded> = {}) =>
  ProgramFiles.readTree(root, FilesConfig.make(files as never)).pipe(
    Effect.map((fs) => fs.map((f) => f.path)),
    Effect.either,
    Effect.map((e) => (e._tag === "Right" ? { _tag: "Right" as const, right: e.right } : e)),
    Effect.provide(NodeContext.layer)
  )
const marked = "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n"

describe("ProgramFiles.readTree", () => {
  it.effect("reads every file but those .gitignore (root and nested) and the built-in excludes leave out", () =>
    Effect.gen(function*() {
      const root = tree({
        "main.py": marked,
        "pkg/util.py": "y = 2\n",
        "pkg/__pycache__/util.cpython-312.pyc": "\0bin",
        ".gitignore": "*.log\n/build/\n",
        "run.log": "noise",
        "build/out.py": "z",
        "pkg/.gitignore": "secret.py\n!keep.log\n",
        "pkg/secret.py": "s",
        ".git/HEAD": "ref"
      })
      symlinkSync("/etc/hostname", join(root, "outside"))
      const result = yield* read(root)
      expect(result).toEqual({ _tag: "Right", right: [".gitignore", "main.py", "pkg/.gitignore", "pkg/util.py"] })
    }))

  it.effect("applies include and exclude globs", () =>
    Effect.gen(function*() {
      const root = tree({ "main.py": marked, "docs/a.md": "a", "pkg/b.py": "b", "tests/test_b.py": "t" })
      expect(yield* read(root, { include: ["**/*.py"], exclude: ["tests/"] })).toEqual({ _tag: "Right", right: ["main.py", "pkg/b.py"] })
    }))

  it.effect("fails clearly past the caps, on a binary file, and without any EVOLVE-BLOCK unless editable: all", () =>
    Effect.gen(function*() {
      const root = tree({ "a.py": marked, "b.py": "bb\n", "c.py": "cc\n" })
      const many = yield* read(root, { max_files: 2 })
      expect(many._tag === "Left" && many.left.message).toMatch(/more than files\.max_files = 2 files/)
      const big = yield* read(root, { max_bytes: 40 })
      expect(big._tag === "Left" && big.left.message).toMatch(/exceed files\.max_bytes = 40 bytes/)
      const bin = yield* read(tree({ "a.py": marked, "x.bin": "\0\x01" }))
      expect(bin._tag === "Left" && bin.left.message).toMatch(/x\.bin: a binary file/)
      const plain = tree({ "a.py": "a\n" })
      const none = yield* read(plain)
      expect(none._tag === "Left" && none.left.message).toMatch(/files\.editable: all/)
      expect(yield* read(plain, { editable: "all" })).toEqual({ _tag: "Right", right: ["a.py"] })
    }))
})
