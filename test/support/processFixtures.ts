/** Helpers shared by the evaluator tests: fixture directories and finding processes by command line. */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** A temp directory holding `files`, removed when the scope closes. */
export const fixtureDir = (files: Record<string, string>, prefix = "evolve-test-") =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))
      for (const [name, text] of Object.entries(files)) NodeFs.writeFileSync(NodePath.join(dir, name), text)
      return dir
    }),
    (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
  )

/** Live, non-zombie processes (other than this one) whose /proc/<pid>/`file` satisfies `matches`. */
export const processesWhere = (file: "cmdline" | "environ", matches: (text: string) => boolean): Array<number> =>
  NodeFs.readdirSync("/proc").filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid).filter((pid) => {
    try {
      return matches(NodeFs.readFileSync(`/proc/${pid}/${file}`, "latin1")) &&
        NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z"
    } catch {
      return false
    }
  }).map(Number)

/** Live, non-zombie processes (other than this one) whose command line contains `needle`. */
export const processesWith = (needle: string): Array<number> => processesWhere("cmdline", (text) => text.includes(needle))
