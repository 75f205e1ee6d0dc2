/**
 * The points of a run, for recording and replay (issue 17). The owner fiber counts the results it
 * handles (proposals, evaluations, background results, stops): its `step`. Messages whose timing
 * does not change what the run does (a worker becoming active) and a person's messages do not
 * count, so a replay counts alike. A recording holds the step of each steering action and of each
 * background result (a meta-note) the owner applied; a replaying run
 * - takes each recorded steering action once it has handled as many results (`dueSteering`),
 * - applies each background result at its recorded step (`next`): one that arrives early waits;
 *   at its step the owner handles nothing else that counts until it has arrived.
 * Without a recording (or on a resumed run) `next` is the mailbox as it comes.
 */
import { Effect } from "effect"
import type { RunRecording } from "../llm/LlmClient.js"
import type { RecordedSteering } from "../llm/Replay.js"
import type { Message } from "./RunMessage.js"

/** Whether a message is a result that counts as a step. */
export const counts = (message: Message): boolean =>
  message._tag !== "Control" && message._tag !== "Steer"

export interface RunReplay {
  /** Results handled so far. */
  readonly step: () => number
  /** A message is about to be handled (counted when it is a result). */
  readonly handling: (message: Message) => void
  /** A background effect started: its result arrives as an Apply message. */
  readonly backgroundStarted: () => void
  /** The recorded steering action due now, taken off the list (none while `stopping`). */
  readonly dueSteering: (stopping: boolean) => RecordedSteering | undefined
  /** The next message to handle, from `take` (the mailbox), paced by the recording. */
  readonly next: (take: Effect.Effect<Message>, stopping: boolean) => Effect.Effect<Message>
}

export const make = (replayed: RunRecording["replayed"]): RunReplay => {
  let step = 0
  const steering = [...replayed.steering]
  const applyAt = [...replayed.applied]
  /** Background results not yet taken from the mailbox. */
  let outstanding = 0
  /** Background results that came before their step. */
  const early: Array<Message> = []
  /** Results held back while the owner waits for a background result. */
  const held: Array<Message> = []

  const fromMailbox = (take: Effect.Effect<Message>) =>
    Effect.map(take, (message) => {
      if (message._tag === "Apply") outstanding--
      return message
    })

  const next = (take: Effect.Effect<Message>, stopping: boolean): Effect.Effect<Message> =>
    applyAt.length === 0 && early.length === 0 && held.length === 0 ? fromMailbox(take) : Effect.gen(function*() {
      // A recorded point the run went past (it diverged from the recording) is dropped.
      while (applyAt.length > 0 && applyAt[0]! < step) applyAt.shift()
      if (stopping || applyAt.length === 0) return early.shift() ?? held.shift() ?? (yield* fromMailbox(take))
      if (applyAt[0] === step) {
        const ready = early.shift()
        if (ready !== undefined) {
          applyAt.shift()
          return ready
        }
        if (outstanding > 0) {
          for (;;) {
            const message = yield* fromMailbox(take)
            if (message._tag === "Apply") {
              applyAt.shift()
              return message
            }
            if (!counts(message)) return message
            held.push(message)
          }
        }
        // Nothing in flight to wait for: the run diverged from the recording.
        applyAt.shift()
        return held.shift() ?? (yield* fromMailbox(take))
      }
      for (;;) {
        const message = held.shift() ?? (yield* fromMailbox(take))
        if (message._tag !== "Apply") return message
        early.push(message)
      }
    })

  return {
    step: () => step,
    handling: (message) => {
      if (counts(message)) step++
    },
    backgroundStarted: () => void outstanding++,
    dueSteering: (stopping) => (!stopping && steering.length > 0 && steering[0]!.step <= step ? steering.shift() : undefined),
    next
  }
}
