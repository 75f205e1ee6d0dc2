/** The per-candidate temp dirs: named after their evolve process, swept when that process died. */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Option } from "effect"
import { isAlive } from "./ProcessTree.js"

/**
 * The temp dir prefix of a candidate: `evolve-<pid>-<pid namespace>-<program id>-`, so that a
 * later evolve can tell dirs whose owner died (killed -9 mid-evaluation) from those of a live one.
 */
export const tempDirPrefix = (namespaceId: string, programId: string) =>
  `evolve-${process.pid}-${namespaceId === "" ? "x" : namespaceId}-${programId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)}-`

/**
 * Removes the candidate temp dirs in `root` left by evolve processes of this pid namespace that
 * no longer exist; never a dir of a live process, of another namespace (its pids mean nothing
 * here), or one this user does not own. Returns the names removed.
 */
export const sweepTempDirs = (root: string, namespaceId: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (namespaceId === "") return []
    const uid = process.getuid?.()
    const names = yield* fs.readDirectory(root).pipe(Effect.orElseSucceed((): Array<string> => []))
    const removed: Array<string> = []
    for (const name of names) {
      const match = /^evolve-(\d+)-(\d+)-/.exec(name)
      if (match === null || match[2] !== namespaceId) continue
      const pid = Number(match[1])
      if (pid === process.pid || isAlive(pid)) continue
      const dir = path.join(root, name)
      const info = yield* fs.stat(dir).pipe(Effect.option)
      if (Option.isNone(info) || info.value.type !== "Directory") continue
      const owner = Option.getOrUndefined(info.value.uid)
      if (uid !== undefined && owner !== undefined && owner !== uid) continue
      const done = yield* fs.remove(dir, { recursive: true }).pipe(Effect.isSuccess)
      if (done) removed.push(name)
    }
    return removed
  })
