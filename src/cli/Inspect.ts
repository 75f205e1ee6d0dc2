import { isPacked, unpack } from "../domain/ProgramTree.js"
import { treeDiff } from "../propose/TreeEdits.js"
import * as ProgramOutput from "./ProgramOutput.js"
import { Clock, Console, Effect, Option } from "effect"
import type { RunOverview } from "../db/Records.js"
import { CandidateStore } from "../db/CandidateStore.js"
import { ExploreQueries } from "../db/ExploreQueries.js"
import { LlmCallStore } from "../db/LlmCallStore.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import { ALIVE_WINDOW_MILLIS, WorkerStore } from "../db/WorkerStore.js"
import { ConfigError, RunNotFound } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { Program, ProgramStatus } from "../domain/Program.js"

const fmt = (n: number | null) => (n === null ? "—" : Number(n.toPrecision(6)).toString())
const pad = (s: string, n: number) => s.padEnd(n)

const latestRun = (runs: ReadonlyArray<RunOverview>, runId: Option.Option<string>) =>
  Option.match(runId, {
    onNone: () => Option.fromNullable(runs[0]),
    onSome: (id) => Option.fromNullable(runs.find((r) => r.id === id))
  })

/** The run to resume: the one named, else the latest that did not complete. */
export const findResumable = (runId: Option.Option<string>) =>
  Effect.gen(function*() {
    const runStore = yield* RunStore
    const queries = yield* RunQueries
    if (Option.isSome(runId)) {
      const run = yield* runStore.getRun(runId.value)
      return { id: run.id, spec: run.spec }
    }
    const runs = yield* queries.listRuns
    const candidate = runs.find((r) => r.status !== "completed")
    if (candidate === undefined) {
      return yield* new ConfigError({
        message: runs.length === 0 ? "no runs in this database" : "every run in this database has completed; name one to extend it with --iterations"
      })
    }
    return { id: candidate.id, spec: candidate.spec }
  })

/** The cluster's evaluation workers that beat recently (none on a single-machine database). */
const listWorkers = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const workers = yield* (yield* WorkerStore).aliveWorkers(now - ALIVE_WINDOW_MILLIS)
  if (workers.length === 0) return
  const slots = workers.reduce((n, w) => n + w.slots, 0)
  const busy = workers.reduce((n, w) => n + w.busy, 0)
  yield* Console.log(`\n${workers.length} worker${workers.length === 1 ? "" : "s"} alive: ${busy} of ${slots} slots busy`)
  yield* Console.log([pad("WORKER", 34), pad("SLOTS", 6), pad("BUSY", 5), pad("DONE", 8), pad("BEAT", 7), pad("VERSION", 9), "TAGS"].join(" "))
  for (const w of workers) {
    yield* Console.log(
      [
        pad(w.id, 34),
        pad(String(w.slots), 6),
        pad(String(w.busy), 5),
        pad(String(w.done), 8),
        pad(`${Math.max(0, Math.round((now - w.heartbeatAt) / 1000))} s`, 7),
        pad(w.version, 9),
        w.tags.join(",") || "-"
      ].join(" ")
    )
  }
})

export const listRuns = Effect.gen(function*() {
  const queries = yield* RunQueries
  const runs = yield* queries.listRuns
  if (runs.length === 0) {
    yield* Console.log("no runs")
    return yield* listWorkers
  }
  yield* Console.log(
    [pad("RUN", 30), pad("STATUS", 12), pad("EVALUATED", 10), pad("FAILED", 8), pad("PENDING", 8), pad("BEST", 12), pad("TOKENS", 10), "USD", "  PROGRAM"].join(" ")
  )
  for (const r of runs) {
    yield* Console.log(
      [
        pad(r.id, 30),
        pad(r.status, 12),
        pad(String(r.evaluated), 10),
        pad(String(r.failed), 8),
        pad(String(r.pending), 8),
        pad(fmt(r.bestScore), 12),
        pad(String(r.inputTokens + r.outputTokens), 10),
        r.usd.toFixed(4),
        ` ${r.spec.programPath}`
      ].join(" ")
    )
  }
  yield* listWorkers
})

/** `evolve best --pareto`: the non-dominated programs over the run's `population.objectives`. */
const paretoFront = (run: RunOverview) =>
  Effect.gen(function*() {
    const queries = yield* RunQueries
    const objectives = run.spec.config.population?.objectives ?? []
    if (objectives.length === 0) {
      return yield* new ConfigError({ message: `run ${run.id} has no population.objectives: nothing to build a Pareto front over` })
    }
    const front = yield* queries.paretoFront(run.id, objectives)
    if (front.length === 0) return yield* Console.error(`run ${run.id} has no scored program reporting ${objectives.map((o) => o.metric).join(", ")}`)
    const heads = objectives.map((o) => `${o.metric} (${o.direction === "maximize" ? "max" : "min"})`)
    yield* Console.log([pad("PROGRAM", 28), pad("SCORE", 12), ...heads.map((h) => pad(h, Math.max(14, h.length + 2))), "ISLAND"].join(" "))
    for (const p of front) {
      yield* Console.log(
        [
          pad(p.id, 28),
          pad(fmt(p.score), 12),
          ...objectives.map((o, i) => pad(fmt(p.metrics?.[o.metric] ?? null), Math.max(14, heads[i]!.length + 2))),
          String(p.island)
        ].join(" ")
      )
    }
    yield* Console.error(`${front.length} program(s) on the Pareto front of run ${run.id}; \`evolve show <id>\` prints one`)
  })

export const best = (runId: Option.Option<string>, out: Option.Option<string>, pareto = false) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const queries = yield* RunQueries
    const runs = yield* queries.listRuns
    if (runs.length === 0) return yield* new ConfigError({ message: "no runs in this database yet: start one with evolve run <program> <evaluator>" })
    const run = latestRun(runs, runId)
    if (Option.isNone(run)) return yield* new RunNotFound({ runId: Option.getOrElse(runId, () => "(latest)") })
    if (pareto) return yield* paretoFront(run.value)
    const [top] = yield* candidates.bestPrograms(run.value.id, 1)
    if (top === undefined) return yield* Console.error(`run ${run.value.id} has no scored program yet`)
    if (Option.isSome(out)) {
      yield* ProgramOutput.writeProgram(out.value, top.code)
      const what = isPacked(top.code) ? `the ${unpack(top.code).length} files of program` : "program"
      return yield* Console.error(`wrote ${what} ${top.id} (score ${fmt(top.score)}) to ${out.value}`)
    }
    yield* Console.error(`# program ${top.id} of run ${run.value.id}, score ${fmt(top.score)}`)
    yield* Console.log(top.code)
  })

const describeProgram = (p: Program) =>
  [
    `program    ${p.id}`,
    `run        ${p.runId}`,
    `parent     ${p.parentId ?? "— (initial program)"}`,
    `status     ${p.status}${p.failure ? ` — ${p.failure.kind}: ${p.failure.message}` : ""}`,
    `score      ${fmt(p.score)}`,
    `generation ${p.generation}, island ${p.island}`,
    `metrics    ${p.metrics ? JSON.stringify(p.metrics) : "—"}`,
    `evaluated  ${p.evalMs === null ? "—" : `in ${p.evalMs.toFixed(0)} ms`}`,
    `llm        ${p.llm ? `${p.llm.model}, ${p.llm.inputTokens} in / ${p.llm.outputTokens} out, $${p.llm.usd.toFixed(5)}, ${p.llm.latencyMs.toFixed(0)} ms, ${p.llm.attempts} attempt(s)` : "—"}`,
    ...(p.feedback ? ["", "--- feedback", p.feedback] : []),
    ...(p.patch ? ["", "--- patch", p.patch] : []),
    ...(p.code ? ["", "--- code", p.code] : [])
  ].join("\n")

/** `evolve diff <a> <b>`: a unified diff per changed file (the program as one file when it is not a tree). */
export const diff = (from: string, to: string) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const [a, b] = yield* candidates.getPrograms([from, to])
    const text = treeDiff(a!.code, b!.code)
    if (text === "") return yield* Console.error(`programs ${from} and ${to} have the same code`)
    yield* Console.log(text)
  })

export const show = (id: string) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const llmCalls = yield* LlmCallStore
    const queries = yield* RunQueries
    if (id.startsWith("run_")) {
      const run = (yield* queries.listRuns).find((r) => r.id === id)
      if (run === undefined) return yield* new RunNotFound({ runId: id })
      const usage = yield* llmCalls.usageByModel(run.id)
      yield* Console.log(
        [
          `run        ${run.id} (${run.status}${run.stopReason ? `: ${run.stopReason}` : ""})`,
          `program    ${run.spec.programPath}`,
          `evaluator  ${run.spec.evaluatorPath}`,
          `counts     ${run.evaluated} evaluated, ${run.failed} failed, ${run.pending} pending`,
          `best       ${fmt(run.bestScore)}`,
          `llm usage  ${run.inputTokens} tokens in, ${run.outputTokens} out, $${run.usd.toFixed(4)}`,
          ...usage.map((u) =>
            `  ${pad(u.model || "(none)", 24)} ${u.calls} calls (${u.errors} failed), ${u.inputTokens} in / ${u.outputTokens} out, $${u.usd.toFixed(4)}`
          )
        ].join("\n")
      )
      return
    }
    yield* Console.log(describeProgram(yield* candidates.getProgram(id)))
  })

export interface ProgramsOptions {
  readonly status: Option.Option<ProgramStatus>
  readonly island: Option.Option<number>
  readonly top: number
}

const clip = (text: string, max: number) => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

/** `evolve programs`: a run's programs, best first (failed and pending ones newest first). */
export const programs = (runId: Option.Option<string>, options: ProgramsOptions) =>
  Effect.gen(function*() {
    const queries = yield* RunQueries
    const explore = yield* ExploreQueries
    const runs = yield* queries.listRuns
    if (runs.length === 0) return yield* new ConfigError({ message: "no runs in this database yet: start one with evolve run <program> <evaluator>" })
    const run = latestRun(runs, runId)
    if (Option.isNone(run)) return yield* new RunNotFound({ runId: Option.getOrElse(runId, () => "(latest)") })
    const status = Option.getOrUndefined(options.status)
    const byScore = status === undefined || status === "evaluated"
    const page = yield* explore.listPrograms(run.value.id as RunId, {
      status,
      island: Option.getOrUndefined(options.island),
      sort: byScore ? "score" : "time",
      order: "desc",
      limit: options.top,
      offset: 0
    })
    if (page.items.length === 0) return yield* Console.error(`run ${run.value.id} has no such program`)
    yield* Console.log([pad("PROGRAM", 26), pad("STATUS", 10), pad("SCORE", 12), pad("ISLAND", 7), pad("GEN", 5), "FAILURE"].join(" "))
    for (const p of page.items) {
      yield* Console.log(
        [
          pad(p.id, 26),
          pad(p.status, 10),
          pad(fmt(p.score), 12),
          pad(String(p.island), 7),
          pad(String(p.generation), 5),
          p.failure ? clip(`${p.failure.kind}: ${p.failure.message}`, 60) : ""
        ].join(" ").trimEnd()
      )
    }
    yield* Console.error(
      `${page.items.length} of ${page.total} program(s) of run ${run.value.id}${byScore ? ", best first" : ", newest first"}; evolve show <program> prints one`
    )
  })
