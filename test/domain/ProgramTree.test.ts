import { describe, expect, it } from "vitest"
import * as ProgramTree from "../../src/domain/ProgramTree.js"

describe("ProgramTree", () => {
  const files = [{ path: "pkg/b.py", content: "x = 1\n" }, { path: "a.py", content: "import pkg.b\n\nprint(2)" }]

  it("packs sorted by path and unpacks to the same files (a missing final newline added)", () => {
    const packed = ProgramTree.pack(files)
    expect(packed).toBe("=== evolve-file: a.py ===\nimport pkg.b\n\nprint(2)\n=== evolve-file: pkg/b.py ===\nx = 1\n")
    expect(ProgramTree.isPacked(packed)).toBe(true)
    expect(ProgramTree.unpack(packed)).toEqual([{ path: "a.py", content: "import pkg.b\n\nprint(2)\n" }, files[0]])
    expect(ProgramTree.pack(ProgramTree.unpack(packed))).toBe(packed)
  })

  it("keeps a single-file program unpacked, and an empty file empty", () => {
    expect(ProgramTree.isPacked("print(1)\n")).toBe(false)
    expect(ProgramTree.unpack(ProgramTree.pack([{ path: "e.txt", content: "" }]))).toEqual([{ path: "e.txt", content: "" }])
  })

  it("refuses paths that climb out, are absolute, or repeat", () => {
    expect(ProgramTree.invalidPath("../x.py")).toMatch(/'\.\.'/)
    expect(ProgramTree.invalidPath("a/../../x.py")).toMatch(/'\.\.'/)
    expect(ProgramTree.invalidPath("/etc/passwd")).toMatch(/absolute/)
    expect(ProgramTree.invalidPath("C:\\x")).toMatch(/absolute/)
    expect(ProgramTree.invalidPath("a//b")).toMatch(/empty/)
    expect(ProgramTree.invalidPath("a/b.py")).toBeUndefined()
    expect(ProgramTree.treeProblems([...files, files[0]!])).toEqual(["pkg/b.py: appears twice"])
    expect(ProgramTree.treeProblems([{ path: "x", content: "=== evolve-file: y ===\n" }])[0]).toMatch(/looks like an evolve file header/)
  })
})
