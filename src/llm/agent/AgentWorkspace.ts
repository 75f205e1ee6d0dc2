/**
 * The scratch copy of a parent program a coding agent edits: the program file (or, for a
 * multi-file program packed as domain/ProgramTree text, its files) written under
 * `<scratch>/work`, and read back once the agent is done. The proposal path names the program in
 * `currentProgram` around its LLM call; an agent answers only calls that carry one.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Data, Effect, FiberRef, Option } from "effect"
import * as ProgramTree from "../../domain/ProgramTree.js"

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
    if (!ProgramTree.isPacked(program.code)) {
      const name = fileNameFor(program.extension)
      yield* fs.writeFileString(path.join(workDir, name), program.code)
      return { workDir, packed: false, files: [name], programPath: path.join(workDir, name) } satisfies Layout
    }
    const files = ProgramTree.unpack(program.code)
    for (const file of files) {
      const unsafe = ProgramTree.invalidPath(file.path)
      if (unsafe !== undefined) return yield* Effect.fail(new WorkspaceError({ message: `the program's file ${JSON.stringify(file.path)}: ${unsafe}` }))
      const target = path.join(workDir, file.path)
      yield* fs.makeDirectory(path.dirname(target), { recursive: true })
      yield* fs.writeFileString(target, file.content)
    }
    return { workDir, packed: true, files: files.map((f) => f.path), programPath: workDir } satisfies Layout
  })

/** What the agent did: the program as it left it, and the answer that makes that edit. */
export interface AgentEdit {
  readonly code: string
  /** A fenced program, or for a tree one section per changed, new or deleted file (propose/TreeEdits). */
  readonly answer: string
}

/** A fence longer than any run of backticks in `code`. */
export const fenceFor = (code: string): string => {
  let longest = 0
  for (const m of code.matchAll(/`{3,}/g)) longest = Math.max(longest, m[0].length)
  return "`".repeat(Math.max(3, longest + 1))
}

const fenced = (code: string, language: string) => {
  const fence = fenceFor(code)
  return `${fence}${language}\n${code.replace(/\n$/, "")}\n${fence}`
}

/** What an agent leaves behind that is not the program: its own state (dot files), caches. */
const agentLitter = (relative: string) =>
  relative.split("/").some((part) => part.startsWith(".") || part === "__pycache__" || part === "node_modules")

/**
 * The program as the agent left it. A single file is re-read (it must still be there). A tree's
 * files are listed again: changed, new and deleted files each become a section of the answer,
 * so the run's files.allow_new_files / allow_delete_files decide what stands, as for a model's
 * edit. Fails when a file is over `maxBytes`.
 */
export const collect = (layout: Layout, program: AgentProgram, maxBytes: number) =>
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
      return { code: code.value, answer: fenced(code.value, program.language) } satisfies AgentEdit
    }
    const listed = yield* fs.readDirectory(layout.workDir, { recursive: true })
    const before = new Map(ProgramTree.unpack(program.code).map((f) => [f.path, f.content]))
    const after: Array<ProgramTree.TreeFile> = []
    for (const file of listed.map((f) => f.split(path.sep).join("/")).filter((f) => !agentLitter(f)).sort()) {
      const content = yield* read(file)
      if (Option.isSome(content)) after.push({ path: file, content: content.value })
    }
    if (after.length === 0) return yield* Effect.fail(new WorkspaceError({ message: "the agent deleted every file of the program" }))
    const kept = new Set(after.map((f) => f.path))
    const sections = [
      ...after.filter((f) => before.get(f.path) !== f.content).map((f) =>
        `${ProgramTree.header(f.path)}\n${fenced(f.content, path.extname(f.path).slice(1) || program.language)}`
      ),
      ...[...before.keys()].filter((p) => !kept.has(p)).map((p) => `=== evolve-delete: ${p} ===`)
    ]
    return { code: ProgramTree.pack(after), answer: sections.join("\n\n") } satisfies AgentEdit
  })
