/**
 * A replayed run's pacing (issue 17): background results (meta-notes) are handled at the step the
 * recording says, whether they arrive before or after it; steering is due at its step; a run with
 * nothing recorded, or that diverged, takes its mailbox as it comes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import type { Message } from "../../src/engine/RunMessage.js"
import * as RunReplay from "../../src/engine/RunReplay.js"
import { noRecording } from "../../src/llm/LlmClient.js"

/** Results named by a label (their payload does not matter here). */
const result = (label: string) => ({ _tag: "StopRequested", reason: "interrupted", message: label }) as Message
const apply = (label: string) => ({ _tag: "Apply", apply: label }) as unknown as Message
/** A message that is not a result: a question to the owner (stats, a stop). */
const control = { _tag: "Control", control: { _tag: "Stop", message: "asked" } } as unknown as Message
const label = (m: Message) => (m._tag === "StopRequested" ? m.message : m._tag === "Apply" ? String(m.apply) : m._tag)

/** Puts `arrivals` in the mailbox, starts `backgrounds` background effects, handles `n` messages; their labels in handling order. */
const drive = (pacing: RunReplay.RunReplay, arrivals: ReadonlyArray<Message>, n: number, backgrounds = 1) =>
  Effect.gen(function*() {
    const mailbox = yield* Queue.unbounded<Message>()
    for (let i = 0; i < backgrounds; i++) pacing.backgroundStarted()
    yield* Queue.offerAll(mailbox, arrivals)
    const out: Array<string> = []
    for (let i = 0; i < n; i++) {
      const m = yield* pacing.next(Queue.take(mailbox), false)
      pacing.handling(m)
      out.push(label(m))
    }
    return out
  })

describe("RunReplay", () => {
  it.effect("a background result that comes early waits for its recorded step", () =>
    Effect.gen(function*() {
      const pacing = RunReplay.make({ steering: [], applied: [2] })
      expect(yield* drive(pacing, [result("r1"), apply("note"), result("r2"), result("r3")], 4)).toEqual(["r1", "r2", "note", "r3"])
      expect(pacing.step()).toBe(4)
    }))

  it.effect("at its step the owner waits for the background result, holding later results back (not the questions it is asked)", () =>
    Effect.gen(function*() {
      const pacing = RunReplay.make({ steering: [], applied: [1] })
      expect(yield* drive(pacing, [result("r1"), result("r2"), control, result("r3"), apply("note")], 5)).toEqual([
        "r1",
        "Control",
        "note",
        "r2",
        "r3"
      ])
    }))

  it.effect("without a recording, and once the run has nothing in flight to wait for, messages come as they arrive", () =>
    Effect.gen(function*() {
      expect(yield* drive(RunReplay.make(noRecording.replayed), [apply("note"), result("r1"), result("r2")], 3)).toEqual(["note", "r1", "r2"])
      // Recorded at step 1, but no background work is in flight: the replay diverged, nothing is awaited.
      expect(yield* drive(RunReplay.make({ steering: [], applied: [1] }), [result("r1"), result("r2")], 2, 0)).toEqual(["r1", "r2"])
    }))

  it.effect("recorded steering is due once the run has handled as many results, not while it stops", () =>
    Effect.gen(function*() {
      const hint = { step: 1, action: { _tag: "AddHint", text: "h" } } as const
      const pacing = RunReplay.make({ steering: [hint], applied: [] })
      expect(pacing.dueSteering(false)).toBeUndefined()
      yield* drive(pacing, [result("r1")], 1, 0)
      expect(pacing.dueSteering(true)).toBeUndefined()
      expect(pacing.dueSteering(false)).toEqual(hint)
      expect(pacing.dueSteering(false)).toBeUndefined()
    }))
})
