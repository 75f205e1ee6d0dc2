import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import { CandidateStore } from "../db/CandidateStore.js"
import { isPacked } from "../domain/ProgramTree.js"
import type { RunSpec } from "../domain/RunConfig.js"
import * as ProgramOutput from "./ProgramOutput.js"
import type { RunSummary } from "../engine/RunActor.js"

// What a finished run leaves where the user looks: the best program as a file (OpenEvolve's
// best_program.<ext>) next to the database, and the commands that show the rest.

/** Writes the run's best program to `best_program<ext>` beside the database; its path, or undefined. */
export const writeBestProgram = (summary: RunSummary, spec: RunSpec) =>
  Effect.gen(function*() {
    const database = spec.config.database.path
    if (summary.bestProgramId === null || database === ":memory:") return undefined
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    const program = yield* (yield* CandidateStore).getProgram(summary.bestProgramId)
    if (isPacked(program.code)) {
      // A multi-file program: the directory best_program/ (what an earlier run left there is replaced).
      const dir = path.join(path.dirname(database), "best_program")
      yield* fs.remove(dir, { recursive: true }).pipe(Effect.ignore)
      yield* ProgramOutput.writeProgram(dir, program.code)
      return dir
    }
    const file = path.join(path.dirname(database), `best_program${path.extname(spec.programPath)}`)
    yield* fs.writeFileString(file, program.code)
    return file
  }).pipe(Effect.catchAll(() => Effect.succeed(undefined)))

const quote = (arg: string) => (/^[\w./:@=+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`)

/** The commands to go on with, one per line. */
export const nextCommands = (summary: RunSummary, database: string, bestFile: string | undefined): string => {
  const db = `--db ${quote(database)}`
  const lines = [
    ...(bestFile === undefined ? [] : [`  best program   ${bestFile}`]),
    "next:",
    ...(summary.bestProgramId !== null
      ? [
        `  evolve best ${summary.runId} ${db}      # print the best program`,
        `  evolve show ${summary.bestProgramId} ${db}   # its metrics, patch and code`
      ]
      : [`  evolve programs ${summary.runId} --status failed ${db}   # what failed, and why`]),
    `  evolve show ${summary.runId} ${db}      # the run: counts, LLM usage per model`,
    `  evolve serve ${db}                     # the web UI: score plot, lineage, diffs`
  ]
  return lines.join("\n")
}
