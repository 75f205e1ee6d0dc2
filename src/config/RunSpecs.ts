import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Config, Effect, Option } from "effect"
import { ConfigError } from "../domain/Errors.js"
import type { RunConfig, RunSpec } from "../domain/RunConfig.js"

/** The language named in prompts, by file extension. */
export const languageOfExtension: Record<string, string> = {
  ".py": "python",
  ".js": "javascript",
  ".mjs": "javascript",
  ".cjs": "javascript",
  ".ts": "typescript",
  ".rs": "rust",
  ".go": "go",
  ".c": "c",
  ".cpp": "c++",
  ".java": "java",
  ".jl": "julia",
  ".rb": "ruby",
  ".sh": "shell"
}

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
const inlineTemplates = (prompt: RunConfig["prompt"], programDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const read = (file: string, key: string) =>
      Effect.gen(function*() {
        const candidates = path.isAbsolute(file) ? [file] : [path.resolve(file), path.resolve(programDir, file)]
        for (const candidate of candidates) {
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
 * Resolves a new run's spec: absolute paths (runs are resumed from any directory), the
 * evaluator command and the language. Fails with a ConfigError naming a missing file.
 */
export const resolveRunSpec = (programPath: string, evaluatorPath: string, config: RunConfig, nodePath: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const program = path.resolve(programPath)
    const evaluator = path.resolve(evaluatorPath)
    yield* checkReadable(fs, program, "program")
    yield* checkReadable(fs, evaluator, "evaluator")
    const initialCode = yield* fs.readFileString(program).pipe(
      Effect.mapError(() => new ConfigError({ path: "program", message: `program ${program}: not readable as UTF-8 text` }))
    )
    const evaluatorConfig = yield* resolveEvaluator(evaluator, config, nodePath)
    const language = config.language ?? languageOfExtension[path.extname(program)] ?? "text"
    const prompt = yield* inlineTemplates(config.prompt, path.dirname(program))
    const spec: RunSpec = {
      programPath: program,
      evaluatorPath: evaluator,
      config: {
        ...config,
        language,
        prompt,
        evaluator: evaluatorConfig,
        database: { path: path.resolve(config.database.path) }
      }
    }
    return { spec, initialCode }
  })
