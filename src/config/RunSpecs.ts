import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { ConfigError } from "../domain/Errors.js"
import type { RunConfig, RunSpec } from "../domain/RunConfig.js"

const languages: Record<string, string> = {
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
    const language = config.language ?? languages[path.extname(program)] ?? "text"
    const spec: RunSpec = {
      programPath: program,
      evaluatorPath: evaluator,
      config: {
        ...config,
        language,
        evaluator: { ...config.evaluator, command: config.evaluator.command ?? defaultEvaluatorCommand(evaluator, nodePath) },
        database: { path: path.resolve(config.database.path) }
      }
    }
    return { spec, initialCode }
  })
