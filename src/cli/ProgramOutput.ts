/** Writing a program where a user asked for it: a file, or a directory for a multi-file program. */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import * as ProgramFiles from "../config/ProgramFiles.js"
import { ConfigError } from "../domain/Errors.js"
import { isPacked, unpack } from "../domain/ProgramTree.js"

/** Writes `code` to `out`: the file itself, or the tree's files under the directory `out`. */
export const writeProgram = (out: string, code: string): Effect.Effect<void, ConfigError, FileSystem.FileSystem | Path.Path> => {
  const write: Effect.Effect<void, { readonly _tag: string; readonly message: string }, FileSystem.FileSystem | Path.Path> = isPacked(code)
    ? ProgramFiles.writeTree(out, unpack(code))
    : Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(out, code))
  return Effect.mapError(write, (e) => e instanceof ConfigError ? e : new ConfigError({ message: `cannot write ${out}: ${e.message}` }))
}
