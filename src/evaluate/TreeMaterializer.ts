/**
 * Writes a multi-file candidate (domain/ProgramTree.ts) as a directory for its evaluation. Every
 * distinct file content is written once into a cache directory (named by its sha256, read-only)
 * and each candidate's tree is made of hard links to it, so the 49 unchanged files of a 50-file
 * project cost a link each, not a write. Running as root, where a read-only mode does not stop
 * a candidate from writing through a link into the cache, each file is written afresh instead.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as ProgramTree from "../domain/ProgramTree.js"

export type Mode = "link" | "copy"

/** Links unless running as root (see the module comment). */
export const defaultMode = (): Mode => (process.getuid?.() === 0 ? "copy" : "link")

export interface Materializer {
  /** Creates `target` (must not exist) holding the tree packed in `code`. */
  readonly materialize: (code: string, target: string) => Effect.Effect<void, PlatformError>
}

/** A materialiser caching file contents under `cacheDir` (created at the first tree; the caller removes it). */
export const make = (cacheDir: string, mode: Mode = defaultMode()) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    let cacheMade = false
    const cached = new Set<string>()
    const encoder = new TextEncoder()
    let tmp = 0

    const blob = (content: string) =>
      Effect.gen(function*() {
        const hash = createHash("sha256").update(content).digest("hex")
        const file = path.join(cacheDir, hash)
        if (cached.has(hash)) return file
        // Written under a private name, then renamed: a concurrent evaluation never links a half-written file.
        const partial = path.join(cacheDir, `.${hash}.${++tmp}`)
        yield* fs.writeFile(partial, encoder.encode(content), { mode: 0o444 })
        yield* fs.rename(partial, file)
        cached.add(hash)
        return file
      })

    const materialize = (code: string, target: string) =>
      Effect.gen(function*() {
        const files = ProgramTree.unpack(code)
        if (!cacheMade) {
          yield* fs.makeDirectory(cacheDir, { recursive: true })
          cacheMade = true
        }
        yield* fs.makeDirectory(target)
        const dirs = new Set<string>()
        for (const f of files) {
          const bad = ProgramTree.invalidPath(f.path)
          if (bad !== undefined) return yield* Effect.dieMessage(`program file ${f.path}: ${bad}`)
          const parts = f.path.split("/")
          for (let k = 1; k < parts.length; k++) dirs.add(parts.slice(0, k).join("/"))
        }
        for (const dir of [...dirs].sort()) yield* fs.makeDirectory(path.join(target, ...dir.split("/")))
        yield* Effect.forEach(files, (f) => {
          const dest = path.join(target, ...f.path.split("/"))
          // A copy is the file written afresh (one call, no cache needed); a link falls back to it across devices.
          const copy = fs.writeFile(dest, encoder.encode(f.content), { mode: 0o644 })
          return mode === "link"
            ? Effect.flatMap(blob(f.content), (source) => fs.link(source, dest).pipe(Effect.catchAll(() => copy)))
            : copy
        }, { discard: true, concurrency: 8 })
      })

    return { materialize } satisfies Materializer
  })
