/**
 * A/B of start-up in CPU time, which a loaded machine does not inflate the way it inflates wall
 * time: evolve's CPU (utime + stime of /proc/<pid>/stat, 10 ms ticks) from spawn to the moment its
 * first LLM connection arrives (the LLM preflight). The "server" never answers: evolve is killed
 * then. Each argument is an evolve executable (a copy of dist/bin inside the repository, so that
 * it finds node_modules); alternating, `EVOLVE_BENCH_ROUNDS` (default 7) rounds after a warm-up.
 *
 *   node dist/scripts/bench/abStartupCpu.js .ab/before/evolve.mjs dist/bin/evolve.mjs
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import type { AddressInfo } from "node:net"
import { resolve } from "node:path"
import { makeWorkspace } from "./fixtures.js"

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const cpuToFirstRequestMs = (main: string) =>
  new Promise<number>((done, fail) => {
    const ws = makeWorkspace("ab-startup-cpu", 0)
    let pid: number | undefined
    const server = createServer((socket) => {
      if (pid === undefined) return
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      const ticks = Number(fields[11]) + Number(fields[12])
      process.kill(pid, "SIGKILL")
      socket.destroy()
      server.close()
      ws.remove()
      done(ticks * 10)
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      const args = [main, "run", ws.program, ws.evaluator, "--db", ws.db, "--provider", "openai-chat"]
      args.push("--base-url", `http://127.0.0.1:${port}/v1`, "--model", "fake-model")
      const child = spawn(process.execPath, args, { cwd: ws.dir, stdio: "ignore", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: ws.dir } })
      pid = child.pid
      child.on("exit", (code, signal) => {
        if (signal !== "SIGKILL") fail(new Error(`${main} exited (${code}) before its first LLM request`))
      })
    })
  })

const main = async () => {
  const mains = process.argv.slice(2).map((m) => resolve(m))
  const rounds = Number(process.env["EVOLVE_BENCH_ROUNDS"] ?? 7)
  const cpu = new Map<string, Array<number>>(mains.map((m) => [m, []]))
  for (let round = 0; round <= rounds; round++) {
    for (const main of mains) {
      const ms = await cpuToFirstRequestMs(main)
      if (round > 0) cpu.get(main)!.push(ms)
    }
  }
  for (const [main, ms] of cpu) {
    process.stdout.write(`${main}: CPU from spawn to the first LLM request median ${median(ms)} ms (${[...ms].sort((a, b) => a - b).join(", ")})\n`)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
