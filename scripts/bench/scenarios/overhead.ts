/**
 * Scenario 3 — evolve's own cost per candidate: CPU time of the evolve process (evaluators are
 * separate processes, so not included) and its memory, with a 5 ms LLM and evaluators that do
 * next to nothing, so evolve's own work dominates. Two contracts: `command` (a shell evaluator
 * spawned per candidate) and `openevolve` on the warm Python pool.
 *
 * CPU per candidate is marginal: (CPU of a long run − CPU of a short run) ÷ (difference in
 * evaluations), which cancels start-up (module loading, migrations). A profiled run
 * (`node --cpu-prof`) of the command contract says where the time goes.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { summarizeProfileDir } from "../cpuProfile.js"
import { type CliRun, expectSuccess, runArgs, runEvolve } from "../evolveCli.js"
import { makePythonWorkspace, makeWorkspace, uniqueVariantResponder, type Workspace } from "../fixtures.js"
import { atMost, type Figure, figure, log, runScenario } from "../protocol.js"
import { readProgramTimes } from "../runDb.js"
import { round } from "../stats.js"

const P = 8
const W = 8

interface Variant {
  readonly id: string
  readonly label: string
  readonly workspace: (name: string) => Workspace
  readonly cpuTarget: number
  readonly full: { readonly short: number; readonly long: number }
}

const variants: ReadonlyArray<Variant> = [
  {
    id: "command",
    label: "command contract",
    workspace: (name) => makeWorkspace(name, 0),
    cpuTarget: 2,
    full: { short: 150, long: 1000 }
  },
  {
    id: "warmPool",
    label: "warm Python pool",
    workspace: makePythonWorkspace,
    cpuTarget: 1,
    full: { short: 100, long: 600 }
  }
]

const runOnce = async (variant: Variant, iterations: number, nodeFlags: ReadonlyArray<string> = []) => {
  const ws = variant.workspace(`overhead-${variant.id}`)
  const server = await startFakeOpenAiServer({ latency: 5, seed: 1, responder: uniqueVariantResponder })
  try {
    const args = runArgs({ workspace: ws, baseUrl: server.url, iterations, proposals: P, evaluations: W })
    const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, nodeFlags }), `overhead ${variant.id}`)
    const programs = await readProgramTimes(ws.db)
    const completions = programs.flatMap((p) => (p.evaluatedAt === null ? [] : [p.evaluatedAt - run.spawnedAtEpoch]))
    return { run, completions: completions.sort((a, b) => a - b) }
  } finally {
    await server.close()
    ws.remove()
  }
}

const cpuMs = (run: CliRun) => (run.probe === undefined ? Number.NaN : run.probe.cpuUserMs + run.probe.cpuSystemMs)

/** Memory when half the evaluations were done and at the end: a long run must stay flat. */
const memoryTrend = (run: CliRun, completions: ReadonlyArray<number>) => {
  const samples = run.probe?.samples ?? []
  const halfway = completions[Math.floor(completions.length / 2)] ?? 0
  const atHalf = samples.find((s) => s.t >= halfway) ?? samples[0]
  const last = samples.at(-1)
  return {
    peakRssMb: round(run.probe?.maxRssMb ?? Number.NaN, 1),
    rssAtHalfMb: round(atHalf?.rssMb ?? Number.NaN, 1),
    rssAtEndMb: round(last?.rssMb ?? Number.NaN, 1),
    heapUsedAtHalfMb: round(atHalf?.heapUsedMb ?? Number.NaN, 1),
    heapUsedAtEndMb: round(last?.heapUsedMb ?? Number.NaN, 1),
    /** Every probe sample (every 250 ms): RSS and heap over the run. */
    timeline: samples.map((s) => ({ t: Math.round(s.t), rssMb: round(s.rssMb, 1), heapUsedMb: round(s.heapUsedMb, 1) }))
  }
}

const measure = async (variant: Variant, quick: boolean) => {
  const { long, short } = quick ? { short: 10, long: 40 } : variant.full
  log(`overhead ${variant.id}: ${short} and ${long} evaluations, P=${P} W=${W}, LLM 5 ms`)
  const a = await runOnce(variant, short)
  const b = await runOnce(variant, long)
  const perCandidate = (cpuMs(b.run) - cpuMs(a.run)) / (b.completions.length - a.completions.length)
  const memory = memoryTrend(b.run, b.completions)
  const span = (b.completions.at(-1) ?? 0) - (b.completions[0] ?? 0)
  log(`  CPU per candidate ${round(perCandidate, 2)} ms; peak RSS ${memory.peakRssMb} MB`)
  return {
    variant,
    perCandidate: round(perCandidate, 2),
    evaluations: b.completions.length,
    memory,
    evaluationsPerSecond: round((b.completions.length * 1000) / span, 1),
    runs: [a, b].map(({ completions, run }) => ({
      evaluations: completions.length,
      wallMs: Math.round(run.wallMs),
      cpuMs: round(cpuMs(run), 1),
      eventLoopDelayMs: run.probe?.eventLoopDelayMs
    }))
  }
}

const profileCommandContract = async (iterations: number) => {
  log(`overhead: profiling a ${iterations}-evaluation command-contract run (node --cpu-prof)`)
  const dir = mkdtempSync(join(tmpdir(), "evolve-bench-profile-"))
  try {
    await runOnce(variants[0]!, iterations, ["--cpu-prof", `--cpu-prof-dir=${dir}`])
    return summarizeProfileDir(dir, 25)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

runScenario(async ({ quick }) => {
  const results = []
  for (const variant of variants) results.push(await measure(variant, quick))
  const profile = await profileCommandContract(quick ? 30 : 400)
  const figures: Array<Figure> = []
  for (const r of results) {
    figures.push(
      figure(`overhead.cpu.${r.variant.id}`, `evolve CPU per candidate (${r.variant.label})`, r.perCandidate, "ms", atMost(r.variant.cpuTarget)),
      figure(
        `overhead.peakRss.${r.variant.id}`,
        `evolve peak RSS, ${r.evaluations}-evaluation run (${r.variant.label})`,
        r.memory.peakRssMb,
        "MB",
        atMost(300)
      ),
      figure(
        `overhead.rssGrowth.${r.variant.id}`,
        `RSS growth over the second half of that run (${r.variant.label})`,
        round(r.memory.rssAtEndMb - r.memory.rssAtHalfMb, 1),
        "MB"
      )
    )
  }
  return {
    scenario: "overhead",
    title: "Overhead per candidate",
    quick,
    figures,
    details: { variants: results.map(({ variant, ...rest }) => ({ id: variant.id, ...rest })), profile }
  }
})
