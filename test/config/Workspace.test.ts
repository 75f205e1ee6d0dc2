import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Workspace from "../../src/config/Workspace.js"

describe("Workspace.confine", () => {
  const top = realpathSync(mkdtempSync(join(tmpdir(), "evolve-ws-")))
  const root = join(top, "ws")
  mkdirSync(join(root, "sub"), { recursive: true })
  writeFileSync(join(top, "outside.txt"), "x")
  writeFileSync(join(root, "inside.txt"), "x")
  symlinkSync(join(top, "outside.txt"), join(root, "link-out.txt"))
  symlinkSync(join(root, "inside.txt"), join(root, "sub", "link-in.txt"))
  symlinkSync(top, join(root, "up"))

  const confine = (file: string) =>
    Effect.gen(function*() {
      const ws = yield* Workspace.make(root)
      return yield* Workspace.confine(ws, root, file, "program").pipe(Effect.either)
    }).pipe(Effect.provide(NodeContext.layer))

  it.effect("accepts files inside, existing or not, and links that stay inside", () =>
    Effect.gen(function*() {
      for (const file of ["inside.txt", "sub/link-in.txt", "not/yet/there.txt", join(root, "sub")]) {
        expect((yield* confine(file))._tag, file).toBe("Right")
      }
    }))

  it.effect("refuses paths outside, as written or through a symbolic link", () =>
    Effect.gen(function*() {
      for (const file of ["../outside.txt", "/etc/hostname", "link-out.txt", "up/outside.txt", `${root}-sibling/x`]) {
        const result = yield* confine(file)
        expect(result._tag, file).toBe("Left")
        if (result._tag === "Left") expect(result.left).toMatchObject({ path: "program", message: expect.stringMatching(/the workspace/) })
      }
    }))

  it.effect("needs an existing directory", () =>
    Effect.gen(function*() {
      const missing = yield* Workspace.make(join(top, "nope")).pipe(Effect.flip, Effect.provide(NodeContext.layer))
      expect(missing.message).toMatch(/no such directory/)
      const file = yield* Workspace.make(join(root, "inside.txt")).pipe(Effect.flip, Effect.provide(NodeContext.layer))
      expect(file.message).toMatch(/not a directory/)
    }))
})
