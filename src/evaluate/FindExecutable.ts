import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"

/** Where an executable (`bwrap`, `setpriv`) is, searching PATH through the FileSystem; undefined when not installed. */
export const findExecutable = (name: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dirs = (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d !== "")
    for (const dir of dirs) {
      const candidate = path.join(dir, name)
      if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
    }
    return undefined
  })
