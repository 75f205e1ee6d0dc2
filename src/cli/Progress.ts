import * as Terminal from "@effect/platform/Terminal"
import { Chunk, Console, Effect, Queue, Schedule, type Scope } from "effect"
import { redactDatabaseTarget } from "../domain/DatabaseTarget.js"
import type { RunHandle, RunSummary } from "../engine/RunActor.js"
import type { RunStats } from "../engine/RunProtocol.js"
import type { NewBest } from "../domain/RunEvent.js"
import type { LlmConfig, RunSpec } from "../domain/RunConfig.js"

const fmtScore = (score: number | null) => (score === null ? "—" : Number(score.toPrecision(6)).toString())
const fmtCount = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n))
const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

const failures = (s: RunStats) => Object.values(s.failuresByKind).reduce((a, b) => a + b, 0)

/** `text` on one line, at most `max` characters. */
const clip = (text: string, max: number) => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

/** Failure kinds, most frequent first, each with its count and latest message clipped to `max`. */
const failureKinds = (s: RunStats, max: number) =>
  Object.entries(s.failuresByKind).sort((a, b) => b[1] - a[1]).map(([kind, n]) => {
    const last = s.lastFailures[kind]
    return `${kind} ${n}${last === undefined || last === "" ? "" : ` (last: ${clip(last, max)})`}`
  })

export const statusLine = (s: RunStats): string => {
  const rate = s.evaluations === 0 ? "—" : `${Math.round((100 * s.scored) / s.evaluations)}%`
  const parts = [
    fmtSeconds(s.elapsedMs),
    `evals ${s.evaluations}/${s.maxEvaluations}`,
    `ok ${rate}`,
    `best ${fmtScore(s.bestScore)}`,
    `in flight llm ${s.inFlightProposals} eval ${s.inFlightEvaluations} queued ${s.queued}`,
    `tokens ${fmtCount(s.inputTokens + s.outputTokens)}`,
    `$${s.usd.toFixed(4)}`,
    ...(failures(s) > 0 ? [`failed ${failureKinds(s, 48).join(", ")}`] : [])
  ]
  return parts.join(" │ ")
}

/**
 * Live progress for a run: on a TTY one status line redrawn in place; otherwise a plain line
 * every `intervalMs` plus a line per new best score. Runs until the scope closes.
 */
export const follow = (handle: RunHandle, tty: boolean, intervalMs: number) =>
  Effect.gen(function*() {
    const events = yield* handle.subscribe
    const terminal = yield* Terminal.Terminal
    // Every event the run published since the last wake at once: only new bests are printed. A run
    // publishes a few events per candidate: taken at most every 250 ms, not a wake for each.
    const newBests = Queue.takeBetween(events, 1, Number.MAX_SAFE_INTEGER).pipe(
      Effect.flatMap((batch) =>
        Effect.forEach(
          Chunk.filter(batch, (event): event is NewBest => event._tag === "NewBest"),
          (event) =>
            Effect.flatMap(handle.stats, (s) =>
              tty
                ? terminal.display(`\r\x1b[2K${fmtSeconds(s.elapsedMs)} new best ${fmtScore(event.score)} (${event.programId})\n`)
                : Console.log(`${fmtSeconds(s.elapsedMs)} new best ${fmtScore(event.score)} (${event.programId})`)),
          { discard: true }
        )
      ),
      Effect.zipLeft(Effect.sleep("250 millis")),
      Effect.forever
    )
    const ticker = handle.stats.pipe(
      // On a TTY the line is redrawn in place: it must not wrap.
      Effect.flatMap((s) =>
        tty ? terminal.display(`\r\x1b[2K${clip(statusLine(s), (process.stdout.columns ?? 100) - 1)}`) : Console.log(statusLine(s))
      ),
      Effect.repeat(Schedule.spaced(intervalMs))
    )
    yield* Effect.forkScoped(Effect.ignore(newBests))
    yield* Effect.forkScoped(Effect.ignore(ticker))
    if (tty) yield* Effect.addFinalizer(() => Effect.ignore(terminal.display("\r\x1b[2K")))
  }) satisfies Effect.Effect<void, never, Scope.Scope | Terminal.Terminal>

/** What proposes the changes: the offline mutator said plainly, else every model of the ensemble. */
export const llmText = (llm: LlmConfig): string => {
  if (llm.provider === "offline" && (llm.models ?? []).every((m) => (m.provider ?? "offline") === "offline")) {
    return "the offline mutator (llm.provider: offline: no LLM, no requests; --model or --base-url names one)"
  }
  const describe = (m: {
    readonly model: string
    readonly name?: string | undefined
    readonly provider?: string | undefined
    readonly base_url?: string | undefined
    readonly agent?: { readonly command: ReadonlyArray<string> } | undefined
  }) => {
    const provider = m.provider ?? llm.provider
    const agent = m.agent ?? llm.agent
    const where = provider === "offline" || provider === "replay"
      ? provider
      : provider === "agent"
      ? `coding agent: ${agent?.command.join(" ") ?? "no llm.agent.command"}`
      : `${provider} at ${m.base_url ?? llm.base_url}`
    return `${m.name !== undefined && m.name !== m.model ? `${m.name}: ` : ""}${m.model} (${where})`
  }
  if (llm.models === undefined && llm.provider === "agent") {
    return `the coding agent \`${llm.agent?.command.join(" ") ?? "?"}\` (llm.provider: agent)`
  }
  const models = llm.models ?? [{ model: llm.model }]
  if (models.length === 1) return describe(models[0]!)
  const weighted = llm.selection === "weighted"
  return `${models.length} models, ${llm.selection}: ${models.map((m) => `${describe(m)}${weighted ? ` weight ${m.weight ?? 1}` : ""}`).join(", ")}`
}

export const startLine = (runId: string, spec: RunSpec): string =>
  `run ${runId}: evolving ${spec.programPath} with ${llmText(spec.config.llm)}, P=${spec.config.concurrency.proposals} W=${spec.config.concurrency.evaluations}`

export const summaryText = (s: RunSummary, databasePath: string): string => {
  const lines = [
    `run ${s.runId}: ${s.status} (${s.message ?? s.stopReason})`,
    `  best score     ${fmtScore(s.bestScore)}${s.bestProgramId ? `  (program ${s.bestProgramId})` : ""}`,
    `  evaluations    ${s.evaluations} (${s.scored} scored) in ${fmtSeconds(s.elapsedMs)}`,
    `  failures       ${failures(s)}`,
    ...failureKinds(s, 160).map((line) => `    ${line}`),
    `  llm            ${fmtCount(s.inputTokens)} tokens in, ${fmtCount(s.outputTokens)} out, $${s.usd.toFixed(4)}`,
    `  database       ${redactDatabaseTarget(databasePath)}`
  ]
  if (s.status === "interrupted") lines.push(`  resume with    evolve resume ${s.runId} --db ${redactDatabaseTarget(databasePath)}`)
  return lines.join("\n")
}
