/**
 * Results announced by the cluster workers that commit them (Postgres LISTEN/NOTIFY). A worker's
 * commit statement also notifies channel `evolve_evaluated` with the candidate and its result
 * (CandidateStore.commitEvaluation's `notice`), and the control process hosting the run completes
 * the candidate from the notice: no cluster message, no reply (an `EvaluationDone` message costs a
 * request, a reply and their encoding on both sides). The listening connection is evolve's own
 * and opens again after an error (a Postgres restart; @effect/sql-pg's `listen` never does);
 * after each (re)connection a `Listening` notice tells listeners to look for what they missed.
 */
import { Context, Duration, Effect, Layer, PubSub, Runtime, Schedule, Schema, type Queue, type Scope } from "effect"
import { isPostgresUrl } from "../domain/DatabaseTarget.js"
import { ProgramId } from "../domain/Ids.js"
import { type EvaluationOutcome, EvaluationOutcomeSchema } from "../domain/Program.js"

export const CHANNEL = "evolve_evaluated"

export type Notice =
  | { readonly _tag: "Evaluated"; readonly programId: ProgramId; readonly outcome: EvaluationOutcome | undefined }
  | { readonly _tag: "Listening" }

export class ResultNotices extends Context.Tag("evolve/ResultNotices")<ResultNotices, {
  /** Whether commits are announced here (Postgres); without, workers send messages. */
  readonly enabled: boolean
  /** The notices from now on, while the scope lasts. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Notice>, never, Scope.Scope>
}>() {}

const Payload = Schema.parseJson(Schema.Struct({ p: ProgramId, o: Schema.optional(EvaluationOutcomeSchema) }))
const encode = Schema.encodeSync(Payload)
const decode = Schema.decodeUnknownOption(Payload)

/** A commit's notice: the candidate, with its result when it fits (NOTIFY takes under 8000 bytes). */
export const payload = (programId: ProgramId, outcome: EvaluationOutcome): string => {
  const full = encode({ p: programId, o: outcome })
  return Buffer.byteLength(full) < 7_900 ? full : encode({ p: programId })
}

export const parse = (text: string): Notice | undefined => {
  const decoded = decode(text)
  return decoded._tag === "None" ? undefined : { _tag: "Evaluated", programId: decoded.value.p, outcome: decoded.value.o }
}

interface ListenClient {
  connect: () => Promise<void>
  query: (sql: string) => Promise<unknown>
  end: () => Promise<void>
  on: (event: string, f: (arg: { channel?: string; payload?: string }) => void) => void
}

/** Listens on `url` from a connection of its own, opened again (every second) whenever it fails. */
const listening = (url: string) =>
  Effect.gen(function*() {
    const hub = yield* PubSub.unbounded<Notice>()
    const runtime = yield* Effect.runtime<never>()
    const publish = (notice: Notice) => Runtime.runSync(runtime)(PubSub.publish(hub, notice))
    const { default: Pg } = yield* Effect.promise(() => import("pg" as string) as Promise<{ default: { Client: new(options: object) => ListenClient } }>)
    // One connection's life: listening until it fails or ends (its handlers are set before it connects).
    const session = Effect.gen(function*() {
      let failure: Error | undefined
      let onFailure = (_: Error) => {}
      const fail = (error: Error) => {
        failure ??= error
        onFailure(failure)
      }
      yield* Effect.acquireRelease(
        Effect.tryPromise(async () => {
          const client = new Pg.Client({ connectionString: url.trim(), connectionTimeoutMillis: 5_000, application_name: "evolve" })
          client.on("error", (error) => fail(error as unknown as Error))
          client.on("end", () => fail(new Error("the listening connection ended")))
          client.on("notification", (message) => {
            const notice = message.channel === CHANNEL && message.payload !== undefined ? parse(message.payload) : undefined
            if (notice !== undefined) publish(notice)
          })
          await client.connect()
          await client.query(`LISTEN ${CHANNEL}`)
          return client
        }),
        (client) => Effect.promise(() => client.end().catch(() => {})).pipe(Effect.timeoutOption(1_000))
      )
      publish({ _tag: "Listening" })
      return yield* Effect.async<never, Error>((resume) => {
        onFailure = (error) => resume(Effect.fail(error))
        if (failure !== undefined) onFailure(failure)
      })
    }).pipe(Effect.scoped)
    yield* session.pipe(
      Effect.tapError((e) => Effect.logDebug(`result notices: listening again in 1 s: ${e.message}`)),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.forkScoped
    )
    return ResultNotices.of({ enabled: true, subscribe: PubSub.subscribe(hub) })
  })

/** Notices of the database at `target`: listened to on Postgres; none on SQLite (messages instead). */
export const layer = (target: string): Layer.Layer<ResultNotices> =>
  isPostgresUrl(target)
    ? Layer.scoped(ResultNotices, listening(target))
    : Layer.effect(ResultNotices, Effect.map(PubSub.unbounded<Notice>(), (hub) => ResultNotices.of({ enabled: false, subscribe: PubSub.subscribe(hub) })))
