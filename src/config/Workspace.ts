/**
 * Confinement to a workspace directory: `evolve serve` reads the programs, evaluators, templates
 * and replay files its API names only under its workspace, and runs only commands that are files
 * there. A path is checked as written (so nothing is looked up outside) and again after symbolic
 * links are resolved.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Option } from "effect"
import { ConfigError } from "../domain/Errors.js"

/** A workspace: its directory with symbolic links resolved. */
export interface Workspace {
  readonly root: string
}

const isInside = (root: string, file: string) => file === root || file.startsWith(root.endsWith("/") ? root : `${root}/`)

/** The workspace at `dir` (which must exist), symbolic links resolved. */
export const make = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const root = yield* fs.realPath(path.resolve(dir)).pipe(
      Effect.mapError(() => new ConfigError({ message: `--workspace ${dir}: no such directory` }))
    )
    const info = yield* fs.stat(root).pipe(Effect.orElseSucceed(() => undefined))
    if (info?.type !== "Directory") return yield* new ConfigError({ message: `--workspace ${dir}: not a directory` })
    return { root } satisfies Workspace
  })

/**
 * `file` (relative to `base`) as an absolute path, if it lies inside the workspace both as
 * written and with symbolic links resolved; a file that does not exist yet is checked as written.
 * `what` names the setting in the error ("program", "prompt.user_template_file", …).
 */
export const confine = (workspace: Workspace, base: string, file: string, what: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const outside = (how: string) =>
      new ConfigError({
        path: what,
        message: `${what} ${file}: ${how} the workspace ${workspace.root} (evolve serve reads and runs only files under --workspace)`
      })
    const absolute = path.resolve(base, file)
    if (!isInside(workspace.root, absolute)) return yield* outside("outside")
    const real = yield* Effect.option(fs.realPath(absolute))
    if (Option.isSome(real) && !isInside(workspace.root, real.value)) return yield* outside("a symbolic link out of")
    return absolute
  })
