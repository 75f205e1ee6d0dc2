import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { resolve } from "node:path"
import { expect } from "vitest"

/** The bundled CLI (dist/bin, produced by `npm run build`, which `npm test` runs first). */
export const cliPath = resolve("dist/bin/evolve.mjs")

/** Runs the CLI asynchronously (a fake server in this process must keep serving meanwhile). */
export const runCli = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string | undefined> = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string; output: string }>((done, fail) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let output = "" // both streams, in the order they came
    child.stdout.on("data", (d) => {
      stdout += d
      output += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
      output += d
    })
    child.on("error", fail)
    child.on("exit", (status) => done({ status, stdout, stderr, output }))
  })

/** A long-running CLI process (serve, worker): wait for a line, stop it with SIGINT. */
export const startCli = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string | undefined> = {}) => {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  const exited = new Promise<void>((done) => child.on("exit", () => done()))
  child.stdout.on("data", (d) => (output += d))
  child.stderr.on("data", (d) => (output += d))
  return {
    output: () => output,
    /** Sends a signal (SIGKILL: a crash) without waiting; `exited` resolves once the process is gone. */
    kill: (signal: NodeJS.Signals) => void child.kill(signal),
    exited,
    /** Waits (up to 30 s) for `pattern` in the output; its match. */
    until: async (pattern: RegExp) => {
      for (let i = 0; i < 600 && !pattern.test(output); i++) {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${output}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      const match = pattern.exec(output)
      expect(match, output).not.toBeNull()
      return match!
    },
    stop: async () => {
      child.kill("SIGINT")
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(killer)
    }
  }
}

/** A TCP port free on loopback now. */
export const freePort = () =>
  new Promise<number>((done) => {
    const probe = createServer()
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as { port: number }).port
      probe.close(() => done(port))
    })
  })

/** A JSON request to a served API: its status and parsed body (null when empty). */
export const callJson = async (url: string, method = "GET", body?: unknown) => {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? null : JSON.stringify(body)
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? null : JSON.parse(text) }
}

/** Polls `read` until `done` holds, for up to two minutes (a bound for a loaded machine, not a timing assertion). */
export const until = async <A>(what: string, read: () => Promise<A> | A, done: (a: A) => boolean): Promise<A> => {
  let value = await read()
  for (let i = 0; i < 1200 && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 100))
    value = await read()
  }
  expect(done(value), `${what}: ${JSON.stringify(value)}`).toBe(true)
  return value
}
