/**
 * The scratch copy of a parent program a coding agent edits: the program file (or, for a packed
 * multi-file program, its files) written under `<scratch>/work`, and read back once the agent is
 * done. The proposal path names the program in `currentProgram` around its LLM call; an agent
 * answers only calls that carry one.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Data, Effect, FiberRef, Option } from "effect"
import * as PackedFiles from "./PackedFiles.js"

/** The program a proposal asks the agent to change. */
export interface AgentProgram {
  readonly code: string
  /** As named in prompts ("python", "text", …): the info string of the answer's code fence. */
  readonly language: string
  /** The program file's extension (".py"; "" when unknown). */
  readonly extension: string
}

/** Set by the proposer around the LLM call of a proposal. */
export const currentProgram: FiberRef.FiberRef<Option.Option<AgentProgram>> = FiberRef.unsafeMake<Option.Option<AgentProgram>>(
  Option.none()
)

/** The file name of a single-file program in the scratch dir. */
export const fileNameFor = (extension: string): string => `program${extension}`

/** What was written: the work dir, and the files (relative paths) that make up the program. */
export interface Layout {
  readonly workDir: string
  readonly packed: boolean
  readonly files: ReadonlyArray<string>
  /** The path the agent is told about (`{program}`): the program file, or the work dir of a packed program. */
  readonly programPath: string
}

/** The scratch copy could not be written or read back (said in the proposal's failure). */
export class WorkspaceError extends Data.TaggedError("WorkspaceError")<{ readonly message: string }> {}

/** Writes `program` under `scratch/work`. */
export const prepare = (scratch: string, program: AgentProgram) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const workDir = path.join(scratch, "work")
    yield* fs.makeDirectory(workDir, { recursive: true })
    if (!PackedFiles.isPacked(program.code)) {
      const name = fileNameFor(program.extension)
      yield* fs.writeFileString(path.join(workDir, name), program.code)
      return { workDir, packed: false, files: [name], programPath: path.join(workDir, name) } satisfies Layout
    }
    const files = PackedFiles.unpack(program.code)
    for (const file of files) {
      const unsafe = PackedFiles.unsafePath(file.path)
      if (unsafe !== undefined) return yield* Effect.fail(new WorkspaceError({ message: `the packed program's file ${unsafe}` }))
      const target = path.join(workDir, file.path)
      yield* fs.makeDirectory(path.dirname(target), { recursive: true })
      yield* fs.writeFileString(target, file.content)
    }
    return { workDir, packed: true, files: files.map((f) => f.path), programPath: workDir } satisfies Layout
  })

/**
 * The program as the agent left it: the file re-read, or every file of a packed program re-read
 * and packed again (a file the agent deleted is dropped; new files are not picked up).
 * Fails when the single program file is gone, or a file is over `maxBytes`.
 */
export const collect = (layout: Layout, maxBytes: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const read = (file: string) =>
      Effect.gen(function*() {
        const target = path.join(layout.workDir, file)
        const info = yield* fs.stat(target).pipe(Effect.option)
        if (Option.isNone(info) || info.value.type !== "File") return Option.none<string>()
        if (Number(info.value.size) > maxBytes) {
          return yield* Effect.fail(new WorkspaceError({ message: `the agent left ${file} at ${info.value.size} bytes, over the limit of ${maxBytes}` }))
        }
        return Option.some(yield* fs.readFileString(target))
      })
    if (!layout.packed) {
      const code = yield* read(layout.files[0]!)
      if (Option.isNone(code)) return yield* Effect.fail(new WorkspaceError({ message: `the agent deleted or replaced the program file ${layout.files[0]}` }))
      return code.value
    }
    const files: Array<PackedFiles.PackedFile> = []
    for (const file of layout.files) {
      const content = yield* read(file)
      if (Option.isSome(content)) files.push({ path: file, content: content.value })
    }
    if (files.length === 0) return yield* Effect.fail(new WorkspaceError({ message: "the agent deleted every file of the program" }))
    return PackedFiles.pack(files)
  })
