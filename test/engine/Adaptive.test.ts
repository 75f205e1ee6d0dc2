/**
 * Adaptive search (issue 17) in a run with the real proposer and LLM client against the fake
 * OpenAI server (fixed seeds, P = W = 1): an island that stops improving is detected, explores
 * (a hotter, full-rewrite prompt), and when every island has stalled one prompt asks for a
 * paradigm shift with a summary of what was tried; meta-notes reach later prompts; with
 * `search.adaptive: false` none of it happens.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Queue, Random, Schema } from "effect"
import { EXPLORE_HEADING, META_NOTE_HEADING, NOTES_HEADING, SHIFT_HEADING } from "../../src/domain/AdaptiveMarkers.js"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Db from "../../src/db/ProgramDatabase.js"
import { SearchStore } from "../../src/db/SearchStore.js"
import { RunConfig, type RunSpec } from "../../src/domain/RunConfig.js"
import type { RunEvent } from "../../src/domain/RunEvent.js"
import * as RunLimits from "../../src/engine/RunLimits.js"
import * as RunServices from "../../src/engine/RunServices.js"
import { startRun } from "../../src/engine/startRun.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import * as OfflineModel from "../../src/llm/OfflineModel.js"
import * as Stall from "../../src/population/Stall.js"
import { defaultAnswer, fakeOpenAiServer, type RecordedRequest } from "../support/FakeOpenAiServer.js"

/** Every program scores 1: nothing ever improves on the initial program, so every island stalls. */
const flat = Layer.succeed(Evaluator, {
  evaluate: () => Effect.succeed({ _tag: "Scored", metrics: { score: 1 }, score: 1, feedback: null, durationMs: 1 } as const)
})

const NOTE = "- NOTE-7f3: constant tweaks never helped; try another formula."

const spec = (url: string, search: Record<string, unknown>, islands = 1, llm: Record<string, unknown> = {}): RunSpec => ({
  programPath: "/tmp/program.py",
  evaluatorPath: "/tmp/evaluator.py",
  config: Schema.decodeUnknownSync(RunConfig)({
    seed: 7,
    max_evaluations: 16,
    concurrency: { proposals: 1, evaluations: 1 },
    language: "python",
    population: { islands, migration_interval: 0 },
    search,
    max_consecutive_proposal_failures: 1000,
    llm: { provider: "openai-chat", model: "fake-model", base_url: url, api_key_env: "EVOLVE_ADAPTIVE_TEST_NO_KEY", cache: false, temperature: 0.5, ...llm }
  })
})

const userText = (r: RecordedRequest): string =>
  (r.body.messages as Array<{ role: string; content: string }>).filter((m) => m.role === "user").at(-1)?.content ?? ""

const run = (runSpec: RunSpec) =>
  Effect.gen(function*() {
    const start = { _tag: "New", spec: runSpec, initialCode: "x = 1\ny = 2.5\nz = 40\n" } as const
    return yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* startRun(start, { services: RunServices.layer(runSpec, { evaluator: flat }), metrics: false })
      const events = yield* handle.subscribe
      const summary = yield* handle.await
      const decisions = yield* (yield* SearchStore).listDecisions(summary.runId, 1000)
      const sql = yield* SqlClient.SqlClient
      const calls = yield* sql<{ id: string; program_id: string | null; purpose: string; input_tokens: number; output_tokens: number; usd: number; outcome: string }>`
        SELECT id, program_id, purpose, input_tokens, output_tokens, usd, outcome FROM llm_calls WHERE run_id = ${summary.runId} ORDER BY created_at, id`
      return { summary, decisions, calls, events: [...yield* Queue.takeAll(events)] as Array<RunEvent> }
    }))
  }).pipe(Effect.provide(Layer.merge(Db.layer(":memory:"), RunLimits.unlimited)))

describe("adaptive search in a run", () => {
  it.scopedLive("a stalled island explores, step by step; a paradigm shift follows when exploring failed on every island; meta-notes reach later prompts", () =>
    Effect.gen(function*() {
      let random = 0.25
      const server = yield* fakeOpenAiServer({
        seed: 3,
        responder: ({ user }) => (user.startsWith(META_NOTE_HEADING) ? NOTE : defaultAnswer(user, () => (random = (random * 7.13 + 0.31) % 1)))
      })
      const { decisions, events, summary } = yield* run(spec(server.url, { stall_window: 4, meta_note_every: 5 }))
      expect(summary.evaluations).toBe(16)
      const search = decisions.filter((d) => d.kind !== "note_written")
      // Stall after 4 child evaluations without a better best: detected, exploration level 1 (larger
      // changes of the usual parents); 4 more without one: level 2 (uniform parents, full
      // rewrites), and only then, exploring having failed, a shift.
      expect(search.slice(0, 4).map((d) => d.kind)).toEqual(["stall_detected", "exploration_changed", "exploration_changed", "shift_proposed"])
      expect(search[0]).toMatchObject({ island: 0, evaluations: 5 })
      expect(search[0]!.reason).toBe("island 0: no better best than 1 in 4 evaluations (window 4)")
      expect(search[1]!.reason).toBe("island 0 stalled: exploration level 1: larger changes of the usual parents, temperature 0.7")
      expect(search[2]).toMatchObject({ island: 0, evaluations: 9 })
      expect(search[2]!.reason).toBe(
        "island 0: no better best than 1 in 8 evaluations (window 4): exploration level 2: uniform parents 50% of the time, temperature 0.9, full rewrites instead of diffs"
      )
      expect(search[3]!.reason).toContain("the search stalled: no better best than 1 in 8 evaluations")
      // The shift's program is refined next: the parent of the following proposals.
      expect(decisions.some((d) => /^the paradigm shift's program \S+ scored 1: it is the parent of the next 4 proposals/.test(d.reason))).toBe(true)
      expect(decisions.map((d) => d.kind)).toContain("note_written")
      expect(decisions.find((d) => d.kind === "note_written")!.note).toBe(NOTE)
      // Each decision is an event with its reason.
      const adapted = events.filter((e) => e._tag === "SearchAdapted")
      expect(adapted.map((e) => e._tag === "SearchAdapted" && e.reason)).toEqual(decisions.map((d) => d.reason))

      const prompts = server.requests.map(userText)
      const proposals = prompts.filter((p) => !p.startsWith(META_NOTE_HEADING))
      // Before the stall: plain diff prompts at the configured temperature.
      expect(proposals.slice(0, 4).some((p) => p.includes(EXPLORE_HEADING) || p.includes(SHIFT_HEADING))).toBe(false)
      expect(server.requests[0]!.body.temperature).toBe(0.5)
      // The paradigm shift: a summary of the approaches tried, a request for a different one, a full rewrite.
      const shifts = server.requests.filter((r) => userText(r).includes(SHIFT_HEADING))
      expect(shifts.length).toBeGreaterThanOrEqual(1)
      const shift = userText(shifts[0]!)
      expect(shift).toContain("Approaches tried so far:\n- island 0: best 1 after 8 evaluations, stalled for 8 (exploration level 2)")
      expect(shift).toContain("FUNDAMENTALLY DIFFERENT approach")
      expect(shifts[0]!.body.temperature).toBe(1)
      expect(shifts[0]!.body.messages[0].content).toContain("complete new program in a single fenced code block")
      // Exploring proposals: the stall section, a hotter model.
      const exploring = server.requests.filter((r) => userText(r).includes(`${EXPLORE_HEADING} (exploration level`))
      expect(exploring.length).toBeGreaterThanOrEqual(2)
      expect(exploring.every((r) => r.body.temperature > 0.5)).toBe(true)
      // Level 1 keeps diffs (a larger change of the usual parent); level 2 asks for full rewrites.
      const rewrite = (r: RecordedRequest) => (r.body.messages[0].content as string).includes("complete new program in a single fenced code block")
      const level1 = exploring.filter((r) => userText(r).includes(`${EXPLORE_HEADING} (exploration level 1)`))
      const level2 = exploring.filter((r) => userText(r).includes(`${EXPLORE_HEADING} (exploration level 2)`))
      expect(level1.length).toBeGreaterThanOrEqual(2)
      expect(level1.every((r) => !rewrite(r) && r.body.temperature === 0.7)).toBe(true)
      expect(level2.length).toBeGreaterThanOrEqual(1)
      expect(level2.every((r) => rewrite(r) && r.body.temperature === 0.9)).toBe(true)
      // The meta-note request sums up the run; every proposal prompt after the note carries it.
      const noteAt = prompts.findIndex((p) => p.startsWith(META_NOTE_HEADING))
      expect(prompts[noteAt]).toContain("## Facts\n- 0 recent changes raised the best score")
      // (The proposal underway while the note was written was built without it.)
      const first = prompts.findIndex((p, i) => i > noteAt && p.includes(NOTE))
      expect(first).toBeGreaterThan(noteAt)
      expect(first).toBeLessThanOrEqual(noteAt + 3)
      const after = prompts.slice(first).filter((p) => !p.startsWith(META_NOTE_HEADING))
      expect(after.length).toBeGreaterThanOrEqual(3)
      for (const p of after) expect(p).toContain(`${NOTES_HEADING} (what worked and what failed)\n${NOTE}`)
      expect(prompts.slice(0, noteAt).some((p) => p.includes(NOTE))).toBe(false)
    }))

  it.scopedLive("each meta-note's LLM call is stored in llm_calls (purpose meta_note, no program) and counts in the run's usage", () =>
    Effect.gen(function*() {
      let random = 0.25
      const server = yield* fakeOpenAiServer({
        seed: 3,
        responder: ({ user }) => (user.startsWith(META_NOTE_HEADING) ? NOTE : defaultAnswer(user, () => (random = (random * 7.13 + 0.31) % 1)))
      })
      const { calls, decisions, summary } = yield* run(
        spec(server.url, { stall_window: 4, meta_note_every: 5 }, 1, { price_input_per_m: 2, price_output_per_m: 8 })
      )
      const noteRequests = server.requests.filter((r) => userText(r).startsWith(META_NOTE_HEADING))
      const notes = calls.filter((c) => c.purpose === "meta_note")
      // One stored call per note written (a note still being asked when the run stopped is cut off, like a proposal).
      expect(notes.length).toBeGreaterThanOrEqual(2)
      expect(notes).toHaveLength(decisions.filter((d) => d.kind === "note_written").length)
      expect(noteRequests.length - notes.length).toBeLessThanOrEqual(1)
      for (const c of notes) {
        expect(c).toMatchObject({ program_id: null, outcome: "ok" })
        expect(c.input_tokens).toBeGreaterThan(0)
        expect(c.usd).toBeCloseTo((c.input_tokens * 2 + c.output_tokens * 8) / 1e6, 12)
      }
      // Every other call is a proposal's; together they are the run's whole usage.
      expect(calls.filter((c) => c.purpose !== "meta_note").every((c) => c.purpose === "proposal" && c.program_id !== null)).toBe(true)
      expect(summary.inputTokens).toBe(calls.reduce((n, c) => n + Number(c.input_tokens), 0))
      expect(summary.usd).toBeCloseTo(calls.reduce((n, c) => n + c.usd, 0), 12)
    }))

  it.scopedLive("search.adaptive: false changes nothing: no decisions, no events, no notes, the same prompts throughout", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 3 })
      const { decisions, events } = yield* run(spec(server.url, { adaptive: false, stall_window: 4, meta_note_every: 5 }, 2))
      expect(decisions).toEqual([])
      expect(events.some((e) => e._tag === "SearchAdapted")).toBe(false)
      const prompts = server.requests.map(userText)
      expect(prompts.length).toBeGreaterThanOrEqual(15)
      for (const p of prompts) {
        for (const heading of [META_NOTE_HEADING, EXPLORE_HEADING, SHIFT_HEADING, NOTES_HEADING]) expect(p).not.toContain(heading)
      }
      expect(server.requests.every((r) => r.body.temperature === 0.5)).toBe(true)
    }))

  it.scopedLive("with two islands, each stalls on its own and a stalled island gets the best island's best program", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 3 })
      const { decisions } = yield* run(spec(server.url, { stall_window: 3, meta_note_every: 0 }, 2))
      expect(decisions.filter((d) => d.kind === "note_written")).toEqual([])
      expect(new Set(decisions.filter((d) => d.kind === "stall_detected").map((d) => d.island))).toEqual(new Set([0, 1]))
      // Only once both islands stalled is a shift proposed.
      const firstShift = decisions.findIndex((d) => d.kind === "shift_proposed")
      expect(decisions.slice(0, firstShift).filter((d) => d.kind === "stall_detected").length).toBe(2)
      const migrated = decisions.filter((d) => d.kind === "migrated")
      expect(migrated.length).toBeGreaterThanOrEqual(1)
      for (const m of migrated) expect(m.reason).toMatch(/^copied the best program \S+ \(score 1\) from island \d to the stalled island \d$/)
    }))
})

describe("adaptive search across a resume", () => {
  it.scopedLive("a resumed run continues each island's stall where it stopped (no fresh stall clock)", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 3 })
      const base = spec(server.url, { stall_window: 4, meta_note_every: 0 })
      const withMax = (max: number): RunSpec => ({ ...base, config: { ...base.config, max_evaluations: max } })
      const session = (start: Parameters<typeof startRun>[0], runSpec: RunSpec) =>
        Effect.scoped(Effect.gen(function*() {
          const handle = yield* startRun(start, { services: RunServices.layer(runSpec, { evaluator: flat }), metrics: false })
          return yield* handle.await
        }))
      const decisions = yield* Effect.gen(function*() {
        // The initial program and 5 children, all scoring 1: island 0 stalls at its 4th child.
        const first = yield* session({ _tag: "New", spec: withMax(6), initialCode: "x = 1\ny = 2.5\nz = 40\n" }, withMax(6))
        const before = yield* (yield* SearchStore).listDecisions(first.runId, 1000)
        expect(before.filter((d) => d.kind === "stall_detected").map((d) => d.evaluations)).toEqual([5])
        const second = yield* session({ _tag: "Resume", runId: first.runId, spec: withMax(12) }, withMax(12))
        expect(second.evaluations).toBe(12)
        return (yield* (yield* SearchStore).listDecisions(first.runId, 1000)).slice(before.length)
      }).pipe(Effect.provide(Layer.merge(Db.layer(":memory:"), RunLimits.unlimited)))
      // Still stalled after the resume: no new stall, but the next level after 8 children without a better best.
      expect(decisions.filter((d) => d.kind === "stall_detected")).toEqual([])
      const raised = decisions.find((d) => d.kind === "exploration_changed" && d.reason.includes("exploration level 2"))
      expect(raised).toMatchObject({ island: 0, evaluations: 9 })
      expect(raised!.reason).toContain("island 0: no better best than 1 in 8 evaluations (window 4)")
    }))
})

describe("the offline model under adaptive search", () => {
  const program = "```python\na = 1.5\nb = 20\nc = 0.25\nd = 7.0\n```"
  const changed = (answer: string) => (answer.match(/^=======$/gm) ?? []).length === 0 ? 0 : answer.split("=======\n")
    .slice(1).map((b) => b.split("\n>>>>>>>")[0]!).join("\n").split("\n").filter((l, i) => l !== ["a = 1.5", "b = 20", "c = 0.25", "d = 7.0"][i]).length
  it.effect("answers a paradigm shift by moving every constant, and an exploring island with more changes", () =>
    Effect.gen(function*() {
      // A fixed seed: a random move can land a constant on its old value (1 draw in ~10 did).
      const shift = yield* OfflineModel.respond(`${SHIFT_HEADING}\nApproaches tried so far:\n- x\n\n# Current program\n${program}`).pipe(
        Effect.withRandom(Random.make(7))
      )
      expect(shift).toContain("a new start")
      expect(changed(shift)).toBe(4)
      let plain = 0
      let bold = 0
      for (let seed = 0; seed < 40; seed++) {
        plain += changed(yield* OfflineModel.respond(`# Current program\n${program}`).pipe(Effect.withRandom(Random.make(seed))))
        bold += changed(yield* OfflineModel.respond(`${EXPLORE_HEADING} (exploration level 3)\n\n# Current program\n${program}`).pipe(Effect.withRandom(Random.make(seed))))
      }
      expect(bold).toBeGreaterThan(plain * 1.5)
    }))
  it.effect("answers a meta-note request with a note, not code", () =>
    Effect.gen(function*() {
      const note = yield* OfflineModel.respond(`${META_NOTE_HEADING} after 5 evaluations\n\n## Facts\n- 2 recent changes raised the best score\n- failures so far: none\n\n## Recent failures`)
      expect(note).toBe("- Offline meta-note (the offline model only restates the facts):\n- 2 recent changes raised the best score\n- failures so far: none")
    }))
})

describe("Stall", () => {
  it("stalls after the window, raises exploration each further window, recovers on a better best, shifts only when every island reached level 2, and spaces shifts", () => {
    let s = Stall.initial(2, 3, [1, 1])
    const feed = (island: number, score: number | undefined) => {
      const [next, d] = Stall.observe(s, island, score)
      s = next
      return d.map((x) => x._tag)
    }
    expect(feed(0, 1)).toEqual([])
    expect(feed(0, 0.5)).toEqual([])
    expect(feed(0, undefined)).toEqual(["Stalled"])
    expect(Stall.levelOf(s, 0)).toBe(1)
    // Island 1 improves at its 4th evaluation: its window becomes max(3, 2) = 3 again.
    for (let i = 0; i < 3; i++) feed(1, 1)
    expect(Stall.levelOf(s, 1)).toBe(1)
    expect(feed(1, 2)).toEqual(["Recovered"])
    expect(Stall.levelOf(s, 1)).toBe(0)
    expect(feed(0, 1)).toEqual([])
    expect(feed(0, 1)).toEqual([])
    expect(feed(0, 1)).toEqual(["Raised"])
    expect(Stall.levelOf(s, 0)).toBe(2)
    expect(feed(1, 1)).toEqual([])
    expect(feed(1, 1)).toEqual([])
    // Both islands stalled, but island 1 only at level 1: exploring gets its window before a shift.
    expect(feed(1, 1)).toEqual(["Stalled"])
    expect(feed(1, 1)).toEqual([])
    expect(feed(1, 1)).toEqual([])
    // Both islands at level 2: a shift is due, and not again before 3 × 2 more evaluations.
    expect(feed(1, 1)).toEqual(["Raised", "ShiftDue"])
    for (let i = 0; i < 5; i++) expect(feed(i % 2, 1)).not.toContain("ShiftDue")
    expect(feed(1, 1)).toContain("ShiftDue")
    // The window grows with the island's history: best reached at its 40th evaluation → 20.
    let t = Stall.initial(1, 3, [0])
    for (let i = 1; i <= 40; i++) t = Stall.observe(t, 0, i)[0]
    expect(Stall.windowOf(t, t.islands[0]!)).toBe(20)
  })

  it("replay rebuilds the stall state of a run's evaluations, as observing them one by one did", () => {
    const history = [
      { initial: true, island: 0, score: 1 },
      { initial: false, island: 0, score: 0.5 },
      { initial: false, island: 1, score: 2 },
      { initial: false, island: 0, score: null },
      { initial: false, island: 0, score: 1 },
      { initial: false, island: 1, score: 1 },
      { initial: false, island: 0, score: 0.9 }
    ]
    let live = Stall.initial(2, 2, [1, 1])
    for (const e of history.slice(1)) live = Stall.observe(live, e.island, e.score ?? undefined)[0]
    const replayed = Stall.replay(2, 2, history)
    expect(replayed).toEqual(live)
    // Island 0: 4 evaluations without a better best than 1 (window 2): exploration level 2.
    expect(replayed.islands[0]).toEqual({ best: 1, evaluations: 4, improvedAt: 0, level: 2 })
    expect(replayed.islands[1]).toMatchObject({ best: 2, evaluations: 2, improvedAt: 1, level: 0 })
    // Nothing evaluated yet: a fresh state.
    expect(Stall.replay(2, 2, [])).toEqual(Stall.initial(2, 2, []))
  })
})

