import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Config, Effect, Option } from "effect"
import { isPostgresUrl } from "../domain/DatabaseTarget.js"
import { ConfigError } from "../domain/Errors.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import type { RunConfig, RunSpec } from "../domain/RunConfig.js"
import { languageOf } from "../domain/Languages.js"
import * as ProgramFiles from "./ProgramFiles.js"
import * as Workspace from "./Workspace.js"

/** The command that runs an evaluator file when the config names none. */
export const defaultEvaluatorCommand = (evaluatorPath: string, nodePath: string): ReadonlyArray<string> => {
  if (/\.py$/.test(evaluatorPath)) return ["python3", evaluatorPath]
  if (/\.(m|c)?js$/.test(evaluatorPath)) return [nodePath, evaluatorPath]
  if (/\.sh$/.test(evaluatorPath)) return ["sh", evaluatorPath]
  return [evaluatorPath]
}

const checkReadable = (fs: FileSystem.FileSystem, file: string, what: string) =>
  fs.stat(file).pipe(
    Effect.mapError(() => new ConfigError({ path: what, message: `${what} ${file}: no such file` })),
    Effect.flatMap((info) =>
      info.type === "File"
        ? fs.access(file, { readable: true }).pipe(
          Effect.mapError(() => new ConfigError({ path: what, message: `${what} ${file}: not readable` }))
        )
        : Effect.fail(new ConfigError({ path: what, message: `${what} ${file}: not a file` }))
    )
  )

const isExecutableFile = (fs: FileSystem.FileSystem, file: string) =>
  fs.stat(file).pipe(
    Effect.map((info) => info.type === "File" && (info.mode & 0o111) !== 0),
    Effect.orElseSucceed(() => false)
  )

/**
 * The program a command starts must exist and be executable now, not fail every evaluation of
 * the run later: a name without "/" is looked up on PATH, a path is taken from `cwd`.
 */
const checkExecutable = (bin: string, cwd: string, what: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (bin.includes("/")) {
      const file = path.resolve(cwd, bin)
      if (!(yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* new ConfigError({ path: what, message: `${what}: ${file}: no such file` })
      }
      if (!(yield* isExecutableFile(fs, file))) {
        return yield* new ConfigError({
          path: what,
          message: `${what}: ${file} is not executable (chmod +x it, or name its interpreter in evaluator.command, e.g. [python3, ${
            path.basename(file)
          }])`
        })
      }
      return
    }
    const searchPath = yield* Config.string("PATH").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
    const dirs = searchPath.split(":").filter((d) => d !== "")
    for (const dir of dirs) {
      if (yield* isExecutableFile(fs, path.join(dir, bin))) return
    }
    return yield* new ConfigError({ path: what, message: `${what}: "${bin}" is not an executable on PATH` })
  })

/**
 * Replaces prompt template files by their text, read now (relative paths: the working directory,
 * then the program's directory), so a missing file is a config error at start and the stored
 * spec resumes even if the file moves.
 */
const inlineTemplates = (prompt: RunConfig["prompt"], programDir: string, workspace: Workspace.Workspace | undefined) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const read = (file: string, key: string) =>
      Effect.gen(function*() {
        const candidates = path.isAbsolute(file)
          ? [file]
          : [path.resolve(workspace?.root ?? "", file), path.resolve(programDir, file)]
        for (const candidate of candidates) {
          if (workspace !== undefined) yield* Workspace.confine(workspace, programDir, candidate, `prompt.${key}`)
          const text = yield* Effect.option(fs.readFileString(candidate))
          if (Option.isSome(text)) return text.value
        }
        return yield* new ConfigError({ path: `prompt.${key}`, message: `prompt.${key}: cannot read ${candidates.join(" or ")}` })
      })
    const { system_template_file, user_template_file, ...rest } = prompt
    return {
      ...rest,
      ...(system_template_file === undefined || rest.system_template !== undefined
        ? {}
        : { system_template: yield* read(system_template_file, "system_template_file") }),
      ...(user_template_file === undefined || rest.user_template !== undefined
        ? {}
        : { user_template: yield* read(user_template_file, "user_template_file") })
    }
  })

/**
 * The evaluator section of a run whose evaluator is the file `evaluator` (absolute): its command
 * (by extension when the config names none), checked to exist and be executable now.
 */
export const resolveEvaluator = (evaluator: string, config: RunConfig, nodePath: string) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    if (config.evaluator.contract === "command") {
      const command = config.evaluator.command ?? defaultEvaluatorCommand(evaluator, nodePath)
      const what = config.evaluator.command === undefined ? "evaluator" : "evaluator.command"
      yield* checkExecutable(command[0]!, path.dirname(evaluator), what)
    } else {
      yield* checkExecutable(config.evaluator.python, path.dirname(evaluator), "evaluator.python")
    }
    return { ...config.evaluator, command: config.evaluator.command ?? defaultEvaluatorCommand(evaluator, nodePath) }
  })

/**
 * What a run may use when its spec comes from someone else (`evolve serve`'s API): files only
 * under the workspace, and commands that are files there.
 */
const confineToWorkspace = (workspace: Workspace.Workspace, program: string, evaluator: string, config: RunConfig) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const root = workspace.root
    yield* Workspace.confine(workspace, root, program, "program")
    yield* Workspace.confine(workspace, root, evaluator, "evaluator")
    const evaluatorDir = path.dirname(evaluator)
    const commandFile = (bin: string, what: string) =>
      bin.includes("/")
        ? Workspace.confine(workspace, evaluatorDir, bin, what)
        : new ConfigError({
          path: what,
          message: `${what}: "${bin}" is looked up on PATH; through evolve serve a command must be a file in the workspace ${root} (or leave ${what} out)`
        })
    if (config.evaluator.contract === "command" && config.evaluator.command !== undefined) {
      yield* commandFile(config.evaluator.command[0]!, "evaluator.command")
    }
    if (config.evaluator.contract !== "command" && config.evaluator.python !== defaultPython) {
      yield* commandFile(config.evaluator.python, "evaluator.python")
    }
    const replay = (file: string | undefined, what: string) =>
      file === undefined ? Effect.succeed(undefined) : Workspace.confine(workspace, root, file, what)
    // A coding agent (provider agent) runs an arbitrary command: only a file of the workspace.
    const agent = <A extends { readonly command: ReadonlyArray<string> }>(given: A | undefined, what: string) =>
      given === undefined ? Effect.succeed(undefined) : Effect.map(
        given.command[0]!.includes("/")
          ? Workspace.confine(workspace, root, given.command[0]!, what)
          : commandFile(given.command[0]!, what),
        (bin): A => ({ ...given, command: [bin, ...given.command.slice(1)] })
      )
    const llmAgent = yield* agent(config.llm.agent, "llm.agent.command")
    return {
      ...config.llm,
      ...(config.llm.replay_file === undefined ? {} : { replay_file: yield* replay(config.llm.replay_file, "llm.replay_file") }),
      ...(llmAgent === undefined ? {} : { agent: llmAgent }),
      ...(config.llm.models === undefined ? {} : {
        models: yield* Effect.forEach(config.llm.models, (m, i) =>
          Effect.gen(function*() {
            const file = yield* replay(m.replay_file, `llm.models.${i}.replay_file`)
            const own = yield* agent(m.agent, `llm.models.${i}.agent.command`)
            return { ...m, ...(file === undefined ? {} : { replay_file: file }), ...(own === undefined ? {} : { agent: own }) }
          }))
      })
    }
  })

/** The interpreter of the Python contracts when the config names none. */
const defaultPython = "python3"

export interface ResolveOptions {
  /**
   * Confine the run to this workspace (evolve serve): relative paths are taken from it, every
   * file read must lie in it, a command must be a file in it, replay files become absolute.
   */
  readonly workspace?: Workspace.Workspace | undefined
}

/**
 * Resolves a new run's spec: absolute paths (runs are resumed from any directory), the
 * evaluator command and the language. Fails with a ConfigError naming a missing file.
 */
export const resolveRunSpec = (
  programPath: string,
  evaluatorPath: string,
  config: RunConfig,
  nodePath: string,
  options: ResolveOptions = {}
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const workspace = options.workspace
    const program = path.resolve(workspace?.root ?? "", programPath)
    const evaluator = path.resolve(workspace?.root ?? "", evaluatorPath)
    const llm = workspace === undefined ? config.llm : yield* confineToWorkspace(workspace, program, evaluator, config)
    // A directory is a program of several files (ProgramFiles.ts), packed into one text.
    const isDir = yield* fs.stat(program).pipe(Effect.map((info) => info.type === "Directory"), Effect.orElseSucceed(() => false))
    if (!isDir) yield* checkReadable(fs, program, "program")
    yield* checkReadable(fs, evaluator, "evaluator")
    const initialCode = isDir ? yield* ProgramFiles.readPacked(program, config.files) : yield* fs.readFileString(program).pipe(
      Effect.mapError(() => new ConfigError({ path: "program", message: `program ${program}: not readable as UTF-8 text` }))
    )
    const evaluatorConfig = yield* resolveEvaluator(evaluator, config, nodePath)
    const language = config.language ??
      (isDir ? ProgramFiles.languageOfTree(ProgramTree.unpack(initialCode)) : languageOf(program))
    const prompt = yield* inlineTemplates(config.prompt, path.dirname(program), workspace)
    const spec: RunSpec = {
      programPath: program,
      evaluatorPath: evaluator,
      config: {
        ...config,
        language,
        prompt,
        llm,
        evaluator: evaluatorConfig,
        database: { path: isPostgresUrl(config.database.path) ? config.database.path : path.resolve(config.database.path) }
      }
    }
    return { spec, initialCode }
  })
