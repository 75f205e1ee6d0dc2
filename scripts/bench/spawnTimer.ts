/** Wall time of a bare command (spawn to exit), the floor any orchestrator has to pay. */
import { spawn } from "node:child_process"
import { performance } from "node:perf_hooks"

export const timeCommandOnce = (command: string, args: ReadonlyArray<string>, cwd: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: cwd },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.resume()
    child.stderr.resume()
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0
        ? resolve(performance.now() - started)
        : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`))
    )
  })

/** `runs` sequential timings (after one warm-up run that fills the page cache). */
export const timeCommand = async (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  runs: number
): Promise<Array<number>> => {
  await timeCommandOnce(command, args, cwd)
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) times.push(await timeCommandOnce(command, args, cwd))
  return times
}
