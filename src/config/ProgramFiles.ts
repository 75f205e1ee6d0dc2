/**
 * Reading a program that is a directory into its packed text (domain/ProgramTree.ts): every file
 * under the directory, minus what `.gitignore` (the root's and nested ones), the built-in
 * excludes and `files.exclude` leave out, restricted to `files.include` when given; within
 * `files.max_files` and `files.max_bytes`, with an error that names the cap and how to change it.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import { ConfigError } from "../domain/Errors.js"
import { evolveBlocks } from "../domain/EvolveBlocks.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import type { FilesConfig } from "../domain/RunConfig.js"
import * as Globs from "./Globs.js"
import { languageOf } from "../domain/Languages.js"

/** Never part of a program tree. */
export const builtInExcludes: ReadonlyArray<string> = [
  ".git/",
  ".hg/",
  ".svn/",
  "node_modules/",
  "__pycache__/",
  "*.pyc",
  ".evolve/",
  ".pytest_cache/",
  ".mypy_cache/",
  ".venv/",
  ".DS_Store"
]

const configError = (message: string) => new ConfigError({ path: "program", message })

/** The files of the tree at `root`, sorted by path. */
export const readTree = (root: string, files: FilesConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const base = Globs.parseAll([...builtInExcludes, ...files.exclude])
    const include = files.include === undefined ? undefined : Globs.parseAll(files.include)
    const out: Array<ProgramTree.TreeFile> = []
    let bytes = 0
    const realRoot = yield* fs.realPath(root).pipe(Effect.orElseSucceed(() => root))

    const included = (rel: string) => {
      if (include === undefined) return true
      if (Globs.matches(include, rel, false)) return true
      const parts = rel.split("/")
      for (let k = 1; k < parts.length; k++) if (Globs.matches(include, parts.slice(0, k).join("/"), true)) return true
      return false
    }

    const walk = (dirRel: string, ignores: ReadonlyArray<{ readonly prefix: string; readonly patterns: Array<Globs.Pattern> }>): Effect.Effect<void, ConfigError> =>
      Effect.gen(function*() {
        const dir = dirRel === "" ? root : path.join(root, dirRel)
        const gitignore = yield* fs.readFileString(path.join(dir, ".gitignore")).pipe(Effect.orElseSucceed(() => ""))
        const scoped = gitignore === "" ? ignores : [...ignores, { prefix: dirRel, patterns: Globs.parseAll(gitignore.split("\n")) }]
        const ignored = (rel: string, isDir: boolean) =>
          Globs.matches(base, rel, isDir) ||
          scoped.some((g) => {
            if (g.prefix !== "" && !rel.startsWith(`${g.prefix}/`)) return false
            return Globs.matches(g.patterns, g.prefix === "" ? rel : rel.slice(g.prefix.length + 1), isDir)
          })
        const names = yield* fs.readDirectory(dir).pipe(Effect.mapError((e) => configError(`program ${dir}: cannot list it (${e.message})`)))
        for (const name of [...names].sort()) {
          const rel = dirRel === "" ? name : `${dirRel}/${name}`
          const info = yield* fs.stat(path.join(root, rel)).pipe(Effect.orElseSucceed(() => undefined))
          if (info === undefined) continue
          // A symbolic link may point anywhere: only what stays inside the tree is read.
          const real = yield* fs.realPath(path.join(root, rel)).pipe(Effect.orElseSucceed(() => ""))
          if (real !== realRoot && !real.startsWith(`${realRoot}${path.sep}`)) continue
          if (info.type === "Directory") {
            if (!ignored(rel, true)) yield* walk(rel, scoped)
            continue
          }
          if (info.type !== "File" || ignored(rel, false) || !included(rel)) continue
          const bad = ProgramTree.invalidPath(rel)
          if (bad !== undefined) return yield* configError(`program file ${rel}: ${bad}`)
          if (out.length + 1 > files.max_files) {
            return yield* configError(
              `program ${root}: more than files.max_files = ${files.max_files} files; leave some out with files.exclude (or .gitignore), or raise files.max_files`
            )
          }
          const data = yield* fs.readFile(path.join(root, rel)).pipe(Effect.mapError((e) => configError(`program file ${rel}: cannot read it (${e.message})`)))
          bytes += data.byteLength
          if (bytes > files.max_bytes) {
            return yield* configError(
              `program ${root}: its files exceed files.max_bytes = ${files.max_bytes} bytes (at ${rel}); leave files out with files.exclude, or raise files.max_bytes`
            )
          }
          if (data.includes(0)) {
            return yield* configError(`program file ${rel}: a binary file; leave it out with files.exclude (only text files can be evolved)`)
          }
          out.push({ path: rel, content: new TextDecoder().decode(data) })
        }
      })

    yield* walk("", [])
    if (out.length === 0) return yield* configError(`program ${root}: no files (after .gitignore and files.include / files.exclude)`)
    const problems = ProgramTree.treeProblems(out)
    if (problems.length > 0) return yield* configError(`program ${root}: ${problems.join("; ")}`)
    if (files.editable === "markers" && !out.some((f) => evolveBlocks(f.content).length > 0)) {
      return yield* configError(
        `program ${root}: no file has EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers, so nothing may be edited; add markers around the code to evolve, or set files.editable: all`
      )
    }
    return out
  })

/** The packed text of the tree at `root` (see `readTree`). */
export const readPacked = (root: string, files: FilesConfig) => Effect.map(readTree(root, files), ProgramTree.pack)

/**
 * Writes a tree under `dir` (created as needed); refuses a path that would leave `dir`.
 * Used by `evolve best -o DIR`.
 */
export const writeTree = (dir: string, tree: ReadonlyArray<ProgramTree.TreeFile>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    for (const f of tree) {
      const bad = ProgramTree.invalidPath(f.path)
      if (bad !== undefined) return yield* configError(`program file ${f.path}: ${bad}`)
      const file = path.join(dir, ...f.path.split("/"))
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      yield* fs.writeFileString(file, f.content)
    }
  })

/** The language of most of a tree's files ("text" when none is known). */
export const languageOfTree = (tree: ReadonlyArray<ProgramTree.TreeFile>): string => {
  const counts = new Map<string, number>()
  for (const f of tree) {
    const lang = languageOf(f.path)
    if (lang !== "text") counts.set(lang, (counts.get(lang) ?? 0) + 1)
  }
  let best = "text"
  let most = 0
  for (const [lang, n] of counts) {
    if (n > most) [best, most] = [lang, n]
  }
  return best
}
