/**
 * Where evolve's own CPU goes on the workload of issues 15 and 22 (`scenarios/workload.ts`):
 * one run of a contract under `node --cpu-prof`, summarized by package and hottest function.
 *
 *   npm run build && node dist/scripts/bench/profileWorkload.js [command-warm|command-cold|openevolve] [evaluations]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../test/support/FakeOpenAiServer.js"
import { summarizeProfileDir } from "./cpuProfile.js"
import { expectSuccess, runArgs, runEvolve } from "./evolveCli.js"
import { makePythonWorkloadWorkspace, type PythonWorkloadContract, uniqueVariantResponder } from "./fixtures.js"

const main = async () => {
  const contract = (process.argv[2] ?? "command-warm") as PythonWorkloadContract
  const iterations = Number(process.argv[3] ?? 200)
  const ws = makePythonWorkloadWorkspace("profile", contract, 100)
  const server = await startFakeOpenAiServer({ latency: { meanMs: 1000, jitterMs: 200 }, seed: 1, responder: uniqueVariantResponder })
  const dir = mkdtempSync(join(tmpdir(), "evolve-bench-profile-"))
  try {
    const args = runArgs({ workspace: ws, baseUrl: server.url, iterations, proposals: 8, evaluations: 8 })
    const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`], eventLoopDelay: false }), contract)
    const cpu = run.probe === undefined ? Number.NaN : run.probe.cpuUserMs + run.probe.cpuSystemMs
    process.stdout.write(`${contract}: ${iterations} evaluations, evolve CPU ${cpu.toFixed(0)} ms (${(cpu / iterations).toFixed(2)} ms each)\n`)
    process.stdout.write(`${JSON.stringify(summarizeProfileDir(dir, 40), null, 1)}\n`)
  } finally {
    await server.close()
    ws.remove()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
