/** The environment an evaluator process starts with: an allow-list of this process's variables. */
import { Effect } from "effect"

/** The only parent environment variables an evaluator sees (plus EVOLVE_PROGRAM and EVOLVE_RESULTS_DIR). */
export const passedEnv: ReadonlyArray<string> = [
  "PATH",
  "HOME",
  "LANG",
  "LC_ALL",
  "TMPDIR",
  "PYTHONPATH",
  "NODE_PATH",
  "SYSTEMROOT"
]

/** The allow-listed part of this process's environment. */
export const scrubbedEnv = Effect.sync(() =>
  Object.fromEntries(passedEnv.flatMap((name) => {
    const value = process.env[name]
    return value === undefined ? [] : [[name, value]]
  })) as Record<string, string>
)
