import { spawn } from "node:child_process"
import { resolve } from "node:path"

/** The bundled CLI (dist/bin, produced by `npm run build`, which `npm test` runs first). */
export const cliPath = resolve("dist/bin/evolve.mjs")

/** Runs the CLI asynchronously (a fake server in this process must keep serving meanwhile). */
export const runCli = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string | undefined> = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", fail)
    child.on("exit", (status) => done({ status, stdout, stderr }))
  })
