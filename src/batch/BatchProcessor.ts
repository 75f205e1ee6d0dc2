/**
 * A bounded, streaming batch processor: runs `fn` over many items with at most `concurrency`
 * in flight, a per-attempt timeout, retries of retryable errors only (exponential backoff with
 * jitter), and per-item results streamed as they finish, in completion order or, with
 * `ordered`, in input order. A failed item is a result, never the end of the batch.
 *
 * Items are read from the source into a read-ahead buffer of `batchSize` items; an item's
 * queue wait is the time from entering that buffer to its first attempt, and its concurrency
 * level is the number of items in flight when it started (itself included).
 */
import {
  Cause,
  Chunk,
  Clock,
  Data,
  Duration,
  Effect,
  Metric,
  Option,
  Schedule,
  Stream
} from "effect"
import { backoff } from "../domain/Backoff.js"
import { type LlmErrorReason, retryableLlmReasons } from "../domain/Errors.js"
import * as RunMetrics from "../observability/RunMetrics.js"

/** An error the processor retries (the default `retry.while` retries these, timeouts and errors with `retryable: true`). */
export class RetryableError extends Data.TaggedError("RetryableError")<{
  readonly message: string
  readonly cause?: unknown
}> {
  readonly retryable = true
}

/** One attempt of an item ran past `timeout`. Retryable by default. */
export class BatchTimeout extends Data.TaggedError("BatchTimeout")<{
  readonly index: number
  readonly timeoutMs: number
}> {
  readonly retryable = true
  override get message() {
    return `item ${this.index}: attempt timed out after ${this.timeoutMs} ms`
  }
}

/** `fn` died (threw inside an Effect, or a defect): reported on the item, never retried. */
export class BatchDefect extends Data.TaggedError("BatchDefect")<{
  readonly index: number
  readonly defect: unknown
}> {
  override get message() {
    const d = this.defect
    return `item ${this.index}: ${d instanceof Error ? d.message : String(d)}`
  }
}

/**
 * The default retry predicate: `BatchTimeout`, `RetryableError`, any error object with
 * `retryable: true`, and an evolve `LlmError` whose reason is transient (429, 5xx, timeout,
 * connection).
 */
export const isRetryable = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const e = error as { readonly retryable?: unknown; readonly _tag?: unknown; readonly reason?: unknown }
  if (e.retryable === true) return true
  return e._tag === "LlmError" && typeof e.reason === "string" && retryableLlmReasons.has(e.reason as LlmErrorReason)
}

export interface RetryOptions<E = unknown> {
  /** Retries after the first attempt (default 3). */
  readonly times?: number | undefined
  /** First backoff delay (default 500 ms); each next one is `factor` times longer (default 2). */
  readonly baseDelay?: Duration.DurationInput | undefined
  readonly factor?: number | undefined
  /** Cap of one backoff delay (default 8 s). */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Scale each delay by a random factor in [0.8, 1.2], before the cap (default true). */
  readonly jitter?: boolean | undefined
  /** Which errors to retry (default `isRetryable`). */
  readonly while?: ((error: E | BatchTimeout) => boolean) | undefined
}

export interface BatchOptions<E = unknown> {
  /** Items in flight at once (default 8). */
  readonly concurrency?: number | undefined
  /** Read-ahead: items taken from the source ahead of the workers (default 2 × concurrency). */
  readonly batchSize?: number | undefined
  /** Per-attempt time limit (a number is milliseconds); none by default. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retry policy; a number is `{ times }`; none by default. */
  readonly retry?: RetryOptions<E> | number | undefined
  /** Emit results in input order (default false: as they finish). */
  readonly ordered?: boolean | undefined
}

interface ResultBase<A> {
  /** Position of the item in the input. */
  readonly index: number
  readonly item: A
  /** Attempts made (1 when the first try settled it). */
  readonly attempts: number
  /** From entering the read-ahead buffer to the first attempt. */
  readonly queueWaitMs: number
  /** From the first attempt to the result, backoff included. */
  readonly durationMs: number
  /** Items in flight when this one started, itself included. */
  readonly concurrency: number
}

export interface BatchSuccess<A, B> extends ResultBase<A> {
  readonly _tag: "Success"
  readonly ok: true
  readonly value: B
}

export interface BatchFailure<A, E> extends ResultBase<A> {
  readonly _tag: "Failure"
  readonly ok: false
  readonly error: E | BatchTimeout | BatchDefect
}

export type BatchResult<A, B, E = unknown> = BatchSuccess<A, B> | BatchFailure<A, E>

export interface BatchSummary {
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  /** Attempts beyond the first, over all items. */
  readonly retries: number
  readonly elapsedMs: number
  readonly maxConcurrency: number
  readonly meanQueueWaitMs: number
  readonly p95QueueWaitMs: number
  readonly maxQueueWaitMs: number
  readonly meanDurationMs: number
}

export interface BatchReport<A, B, E = unknown> {
  /** Every item's result, in input order. */
  readonly results: ReadonlyArray<BatchResult<A, B, E>>
  readonly summary: BatchSummary
}

/** Context passed to `fn` with each attempt. */
export interface AttemptContext {
  readonly index: number
  /** 1 for the first attempt. */
  readonly attempt: number
}

export type Source<A, E = never, R = never> = Iterable<A> | Stream.Stream<A, E, R>

/** The backoff schedule of a retry policy (`Schedule.stop` when there is none). */
export const retrySchedule = (retry: RetryOptions<unknown> | number | undefined): Schedule.Schedule<unknown> => {
  if (retry === undefined) return Schedule.stop
  const options: RetryOptions<unknown> = typeof retry === "number" ? { times: retry } : retry
  return backoff({ base: options.baseDelay, factor: options.factor, max: options.maxDelay, jitter: options.jitter }).pipe(
    Schedule.intersect(Schedule.recurs(options.times ?? 3)),
    Schedule.asVoid
  )
}

/** Builds a summary result by result, keeping only numbers (a streamed batch may be huge). */
export class SummaryBuilder {
  private total = 0
  private succeeded = 0
  private retries = 0
  private maxConcurrency = 0
  private waitSum = 0
  private durationSum = 0
  private readonly waits: Array<number> = []

  add(result: Pick<BatchResult<unknown, unknown>, "ok" | "attempts" | "concurrency" | "queueWaitMs" | "durationMs">): void {
    this.total++
    if (result.ok) this.succeeded++
    this.retries += result.attempts - 1
    this.maxConcurrency = Math.max(this.maxConcurrency, result.concurrency)
    this.waitSum += result.queueWaitMs
    this.durationSum += result.durationMs
    this.waits.push(result.queueWaitMs)
  }

  summary(elapsedMs: number): BatchSummary {
    const n = this.total
    const waits = this.waits.slice().sort((a, b) => a - b)
    return {
      total: n,
      succeeded: this.succeeded,
      failed: n - this.succeeded,
      retries: this.retries,
      elapsedMs,
      maxConcurrency: this.maxConcurrency,
      meanQueueWaitMs: n === 0 ? 0 : this.waitSum / n,
      p95QueueWaitMs: n === 0 ? 0 : waits[Math.min(n - 1, Math.ceil(0.95 * n) - 1)]!,
      maxQueueWaitMs: n === 0 ? 0 : waits[n - 1]!,
      meanDurationMs: n === 0 ? 0 : this.durationSum / n
    }
  }
}

/** The summary of a set of results. */
export const summarize = <A, B, E>(
  results: ReadonlyArray<BatchResult<A, B, E>>,
  elapsedMs: number
): BatchSummary => {
  const builder = new SummaryBuilder()
  for (const result of results) builder.add(result)
  return builder.summary(elapsedMs)
}

const toStream = <A, E, R>(items: Source<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.StreamTypeId in (items as object) ? items as Stream.Stream<A, E, R> : Stream.fromIterable(items as Iterable<A>)

/**
 * Runs `fn` over `items` and streams one result per item as it settles. The stream fails only
 * if the source fails; `fn`'s failures, timeouts and defects are per-item `Failure` results.
 */
export const stream = <A, B, E, R, ES = never, RS = never>(
  items: Source<A, ES, RS>,
  fn: (item: A, context: AttemptContext) => Effect.Effect<B, E, R>,
  options: BatchOptions<E> = {}
): Stream.Stream<BatchResult<A, B, E>, ES, R | RS> =>
  Stream.suspend(() => {
    const concurrency = Math.max(1, options.concurrency ?? 8)
    const batchSize = Math.max(1, options.batchSize ?? 2 * concurrency)
    const timeoutMs = options.timeout === undefined ? undefined : Duration.toMillis(Duration.decode(options.timeout))
    const retryOptions: RetryOptions<E> | undefined = typeof options.retry === "number" ? { times: options.retry } : options.retry
    const shouldRetry = (retryOptions?.while ?? isRetryable) as (error: E | BatchTimeout) => boolean
    const schedule = retrySchedule(options.retry as RetryOptions<unknown> | undefined)
    let inFlight = 0

    const attemptOnce = (item: A, index: number, attempt: number): Effect.Effect<B, E | BatchTimeout, R> => {
      const call = Effect.suspend(() => fn(item, { index, attempt }))
      return timeoutMs === undefined
        ? call
        : Effect.timeoutFail(call, { duration: timeoutMs, onTimeout: () => new BatchTimeout({ index, timeoutMs }) })
    }

    const processOne = ([item, index, admittedAt]: readonly [A, number, number]) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        inFlight++
        const level = inFlight
        yield* Metric.set(RunMetrics.batchConcurrency, inFlight)
        let attempts = 0
        const exit = yield* Effect.suspend(() => attemptOnce(item, index, ++attempts)).pipe(
          Effect.retry({ schedule, while: shouldRetry }),
          Effect.exit,
          Effect.ensuring(Effect.suspend(() => {
            inFlight--
            return Metric.set(RunMetrics.batchConcurrency, inFlight)
          }))
        )
        const finished = yield* Clock.currentTimeMillis
        const base = {
          index,
          item,
          attempts,
          queueWaitMs: started - admittedAt,
          durationMs: finished - started,
          concurrency: level
        }
        let result: BatchResult<A, B, E>
        if (exit._tag === "Success") {
          result = { _tag: "Success", ok: true, value: exit.value, ...base }
        } else {
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure) && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const error = Option.isSome(failure) ? failure.value : new BatchDefect({ index, defect: Cause.squash(exit.cause) })
          result = { _tag: "Failure", ok: false, error, ...base }
        }
        yield* Effect.all([
          Metric.update(RunMetrics.batchQueueWait, result.queueWaitMs),
          Metric.update(RunMetrics.batchItemDuration, result.durationMs),
          Metric.update(Metric.tagged(RunMetrics.batchItems, "outcome", result.ok ? "ok" : "error"), 1)
        ], { discard: true })
        return result
      }).pipe(Effect.withSpan("BatchProcessor.item", { attributes: { "batch.index": index } }))

    return toStream(items).pipe(
      Stream.zipWithIndex,
      Stream.mapChunksEffect((chunk) =>
        Effect.map(Clock.currentTimeMillis, (now) => Chunk.map(chunk, ([item, index]) => [item, index, now] as const))
      ),
      Stream.buffer({ capacity: batchSize }),
      Stream.mapEffect(processOne, { concurrency, unordered: !(options.ordered ?? false) })
    )
  })

/** Runs the whole batch: every result in input order, and the summary. */
export const run = <A, B, E, R, ES = never, RS = never>(
  items: Source<A, ES, RS>,
  fn: (item: A, context: AttemptContext) => Effect.Effect<B, E, R>,
  options: BatchOptions<E> & {
    /** Called with each result as it is emitted. */
    readonly onResult?: ((result: BatchResult<A, B, E>) => Effect.Effect<void, never, R>) | undefined
  } = {}
): Effect.Effect<BatchReport<A, B, E>, ES, R | RS> =>
  Effect.gen(function*() {
    const startNs = yield* Clock.currentTimeNanos
    const onResult = options.onResult
    const results = yield* stream(items, fn, options).pipe(
      onResult === undefined ? (s) => s : Stream.tap(onResult),
      Stream.runCollect
    )
    const sorted = Chunk.toReadonlyArray(results).slice().sort((a, b) => a.index - b.index)
    const elapsed = yield* RunMetrics.elapsedMs(startNs)
    return { results: sorted, summary: summarize(sorted, elapsed) }
  }).pipe(Effect.withSpan("BatchProcessor.run"))
