/**
 * Scenario 2 — start-up: `evolve --help` wall time (median of several), and time from process
 * start to the first LLM request of a run (the fake server stamps it), split into: until the
 * initial program is stored (module loading, config, database), its evaluation, and on to the
 * first request. The import cost of the biggest dependencies (each in a fresh node, minus a bare
 * `node -e 0`) and a CPU profile of a short run say where the time goes.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { summarizeProfileDir } from "../cpuProfile.js"
import { expectSuccess, runArgs, runEvolve } from "../evolveCli.js"
import { makeWorkspace, uniqueVariantResponder } from "../fixtures.js"
import { distSrc, repoRoot } from "../paths.js"
import { atMost, figure, log, runScenario } from "../protocol.js"
import { readProgramTimes } from "../runDb.js"
import { timeCommand } from "../spawnTimer.js"
import { median, round } from "../stats.js"

const importedModules = [
  "effect",
  "@effect/platform-node",
  "@effect/cli",
  "@effect/sql",
  "@effect/ai",
  "@effect/ai-openai",
  pathToFileURL(join(distSrc, "index.js")).href
]

const helpTimes = async (runs: number) => {
  const ws = makeWorkspace("help", 0)
  try {
    const times: Array<number> = []
    for (let i = 0; i <= runs; i++) {
      const run = expectSuccess(await runEvolve(["--help"], { cwd: ws.dir, probe: false }), "--help")
      if (i > 0) times.push(run.wallMs) // the first run only warms the page cache
    }
    return times
  } finally {
    ws.remove()
  }
}

const firstRequest = async (nodeFlags: ReadonlyArray<string> = []) => {
  const ws = makeWorkspace("first-request", 0)
  const server = await startFakeOpenAiServer({ latency: 5, seed: 1, responder: uniqueVariantResponder })
  try {
    const args = runArgs({
      workspace: ws,
      baseUrl: server.url,
      iterations: 2,
      proposals: 1,
      evaluations: 1
    })
    const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, nodeFlags }), "first request")
    const initial = (await readProgramTimes(ws.db))[0]!
    const firstRequestMs = server.requests[0]!.at - run.spawnedAt
    return {
      firstRequestMs,
      nodeBootstrapMs: run.probe?.bootstrapMs ?? Number.NaN,
      initialStoredMs: initial.createdAt - run.spawnedAtEpoch,
      initialEvaluatedMs: (initial.evaluatedAt ?? Number.NaN) - run.spawnedAtEpoch
    }
  } finally {
    await server.close()
    ws.remove()
  }
}

/** Where a run's start-up CPU goes: `node --cpu-prof` of a two-evaluation run. */
const profileRunStart = async () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-bench-profile-"))
  try {
    await firstRequest(["--cpu-prof", `--cpu-prof-dir=${dir}`])
    return summarizeProfileDir(dir, 12)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const importCosts = async (runs: number) => {
  const bare = median(await timeCommand(process.execPath, ["-e", "0"], repoRoot, runs))
  const costs: Record<string, number> = { "node -e 0 (bare start)": round(bare, 1) }
  for (const specifier of importedModules) {
    const source = `await import(${JSON.stringify(specifier)})`
    const wall = median(await timeCommand(process.execPath, ["--input-type=module", "-e", source], repoRoot, runs))
    const name = specifier.startsWith("file:") ? "evolve's library (dist/src/index.js)" : specifier
    costs[`import ${name}`] = round(wall - bare, 1)
  }
  return costs
}

runScenario(async ({ quick }) => {
  const runs = quick ? 2 : 5
  log(`startup: evolve --help × ${runs}`)
  const help = await helpTimes(runs)
  log(`startup: process start → first LLM request × ${runs}`)
  const firsts: Array<Awaited<ReturnType<typeof firstRequest>>> = []
  for (let i = 0; i < runs; i++) firsts.push(await firstRequest())
  const medianOf = (key: keyof (typeof firsts)[number]) => round(median(firsts.map((f) => f[key])), 1)
  log("startup: import cost of the main dependencies, and a profile of a run's start")
  const imports = await importCosts(quick ? 1 : 3)
  const profile = await profileRunStart()
  const helpMs = round(median(help), 1)
  const firstMs = medianOf("firstRequestMs")
  log(`  --help ${helpMs} ms, first LLM request at ${firstMs} ms`)
  return {
    scenario: "startup",
    title: "Start-up",
    quick,
    figures: [
      figure("startup.help", "`evolve --help` wall time (median)", round(helpMs / 1000, 3), "s", atMost(0.3)),
      figure("startup.firstLlmRequest", "process start → first LLM request (median)", round(firstMs / 1000, 3), "s", atMost(0.5))
    ],
    details: {
      helpMs: help.map((t) => round(t, 1)),
      firstRequest: {
        firstRequestMs: firsts.map((f) => round(f.firstRequestMs, 1)),
        medianNodeBootstrapMs: medianOf("nodeBootstrapMs"),
        medianInitialStoredMs: medianOf("initialStoredMs"),
        medianInitialEvaluatedMs: medianOf("initialEvaluatedMs")
      },
      importCostMs: imports,
      runStartProfile: profile
    }
  }
})
