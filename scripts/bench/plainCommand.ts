/**
 * The `command` contract's steps in plain Node (fs/promises, child_process): a per-candidate
 * temp dir with the program and a results dir, the evaluator in its own process group, stdout
 * collected, the group killed, metrics parsed from metrics.json or the last stdout line, the
 * dir removed. No timeout or output cap: a floor for what CommandEvaluator's work costs.
 */
import { spawn } from "node:child_process"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const plainCommandEvaluation = async (command: ReadonlyArray<string>, cwd: string, code: string, extension: string) => {
  const dir = await mkdtemp(join(tmpdir(), "evolve-bench-plain-"))
  try {
    const program = join(dir, `program${extension}`)
    const results = join(dir, "results")
    await writeFile(program, code)
    await mkdir(results)
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(command[0]!, [...command.slice(1), program], {
        cwd,
        detached: true,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", EVOLVE_PROGRAM: program, EVOLVE_RESULTS_DIR: results },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const chunks: Array<Buffer> = []
      child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk))
      child.stderr.resume()
      child.on("error", reject)
      child.on("close", (exitCode) => {
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {
          // the group is already gone
        }
        if (exitCode === 0) resolve(Buffer.concat(chunks).toString("utf8"))
        else reject(new Error(`evaluator exited with ${exitCode}`))
      })
    })
    const text = await readFile(join(results, "metrics.json"), "utf8").catch(() => stdout.trim().split("\n").at(-1) ?? "")
    return JSON.parse(text) as unknown
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
