/**
 * Whether a `command` evaluator can start warm on the Python pool (`evaluator.warm_pool`, default
 * on): it must be a Python script, run as `python SCRIPT ARGS...` or as `SCRIPT ARGS...` through a
 * plain `#!` line naming a Python interpreter. What a forked interpreter cannot reproduce makes it
 * start cold, with one warning: interpreter options, a `#!` line with options, and a script that
 * re-executes itself or reads its own command line (`os.exec*`, /proc/self/cmdline, psutil's
 * `cmdline()`: a fork's is the worker's; `sys.argv` and `sys.orig_argv` are set as a cold start's).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Option } from "effect"

export type WarmPlan =
  | {
    readonly _tag: "Warm"
    readonly python: string
    /** The script, absolute. */
    readonly script: string
    /** `sys.argv` before the candidate's path, as the cold command line gives it. */
    readonly argv: ReadonlyArray<string>
  }
  | { readonly _tag: "Cold"; readonly warning: string | undefined }

const interpreter = /^python(\d+(\.\d+)?)?$/

const cold = (warning?: string): WarmPlan => ({ _tag: "Cold", warning })

/** What a fork of a loaded interpreter cannot reproduce, found in the script's source. */
const unfaithful = /\bos\.exec[lv]p?e?\b|\/proc\/(self|\{?os\.getpid\(\)\}?)\/cmdline|\.cmdline\(\)/

/** The interpreter a `#!` line names: "python3" for `#!/usr/bin/env python3`, the path for `#!/usr/bin/python3`. */
const shebangPython = (firstLine: string): Option.Option<string> | "options" => {
  if (!firstLine.startsWith("#!")) return Option.none()
  const words = firstLine.slice(2).trim().split(/\s+/)
  const [program, ...rest] = words[0]?.endsWith("/env") === true ? words.slice(1) : words
  if (program === undefined || !interpreter.test(program.slice(program.lastIndexOf("/") + 1))) return Option.none()
  return rest.length > 0 ? "options" : Option.some(program)
}

export const plan = (command: ReadonlyArray<string>, cwd: string, warmPool: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const [first, ...rest] = command
    if (!warmPool || first === undefined) return cold()
    const read = (file: string) => fs.readFileString(path.resolve(cwd, file)).pipe(Effect.option)
    let python: string
    let argv: ReadonlyArray<string>
    let source: string
    if (interpreter.test(path.basename(first))) {
      const script = rest[0]
      if (script === undefined || !script.endsWith(".py")) {
        return cold(script?.startsWith("-") === true ? `evaluator.command passes options to ${first}` : undefined)
      }
      const text = yield* read(script)
      if (Option.isNone(text)) return cold()
      python = first
      argv = rest
      source = text.value
    } else {
      if (!first.endsWith(".py")) return cold()
      const text = yield* read(first)
      const info = yield* fs.stat(path.resolve(cwd, first)).pipe(Effect.option)
      // Not executable: a cold start fails to spawn it, and so must the warm one.
      if (Option.isNone(text) || Option.isNone(info) || (info.value.mode & 0o111) === 0) return cold()
      const named = shebangPython(text.value.slice(0, text.value.indexOf("\n") >>> 0))
      if (named === "options") return cold(`${first}: its #! line passes options to the interpreter`)
      if (Option.isNone(named)) return cold()
      python = named.value
      argv = command
      source = text.value
    }
    if (unfaithful.test(source)) {
      return cold(`${argv[0]} re-executes itself or reads its own command line (os.exec*, /proc/self/cmdline)`)
    }
    return { _tag: "Warm", python, script: path.resolve(cwd, argv[0]!), argv } as WarmPlan
  })
