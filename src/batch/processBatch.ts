/**
 * The batch processor for non-Effect code: `processBatch(items, fn, options)` returns an
 * AsyncIterable of per-item results as they finish (`for await`), or all of them with
 * `.collect()`. Breaking out of the loop, or aborting `options.signal`, interrupts the items
 * in flight (their `signal` is aborted).
 */
import { Clock, type Duration, Effect, Stream } from "effect"
import {
  type AttemptContext,
  type BatchOptions,
  type BatchReport,
  type BatchResult,
  type BatchSummary,
  type RetryOptions,
  stream,
  SummaryBuilder
} from "./BatchProcessor.js"

export interface ProcessBatchContext extends AttemptContext {
  /** Aborted when the attempt times out or the batch is stopped. */
  readonly signal: AbortSignal
}

export interface ProcessBatchOptions<A, B> {
  /** Items in flight at once (default 8). */
  readonly concurrency?: number | undefined
  /** Read-ahead: items taken from the source ahead of the workers (default 2 × concurrency). */
  readonly batchSize?: number | undefined
  /** Per-attempt time limit in milliseconds (or a Duration such as "30 seconds"). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retries of retryable errors; a number is `{ times }`. Delays are Durations (numbers are ms). */
  readonly retry?: RetryOptions<unknown> | number | undefined
  /** Results in input order (default false: as they finish). */
  readonly ordered?: boolean | undefined
  /** Called with each result as it is emitted; a returned promise is awaited (back-pressure). */
  readonly onResult?: ((result: BatchResult<A, B, unknown>) => void | PromiseLike<void>) | undefined
  /** Stops the batch: items in flight are interrupted and iteration ends. */
  readonly signal?: AbortSignal | undefined
}

/** A running batch: iterate it for results as they finish, or `collect()` them all. */
export interface BatchRun<A, B> extends AsyncIterable<BatchResult<A, B, unknown>> {
  /** Runs the batch and resolves with every result in input order plus the summary (a batch runs once: iterate it or collect it). */
  collect(): Promise<BatchReport<A, B, unknown>>
  /** The summary of the results emitted so far, timed up to the latest one (final once iteration has ended). */
  summary(): BatchSummary
}

const isAsyncIterable = <A>(value: Iterable<A> | AsyncIterable<A>): value is AsyncIterable<A> =>
  typeof (value as AsyncIterable<A>)[Symbol.asyncIterator] === "function"

/**
 * Runs `fn` over `items` with bounded concurrency, timeouts and retries of retryable errors
 * (see `BatchProcessor.isRetryable`); a failing item is a `Failure` result, not an exception.
 */
export const processBatch = <A, B>(
  items: Iterable<A> | AsyncIterable<A>,
  fn: (item: A, context: ProcessBatchContext) => B | PromiseLike<B>,
  options: ProcessBatchOptions<A, B> = {}
): BatchRun<A, B> => {
  const source: Stream.Stream<A, unknown> = isAsyncIterable(items)
    ? Stream.fromAsyncIterable(items, (error) => error)
    : Stream.fromIterable(items)
  const effectOptions: BatchOptions<unknown> = {
    concurrency: options.concurrency,
    batchSize: options.batchSize,
    timeout: options.timeout,
    retry: options.retry,
    ordered: options.ordered
  }
  const onResult = options.onResult
  const signal = options.signal
  const summary = new SummaryBuilder()
  /** Kept only for `collect()`: a streamed batch holds no results. */
  let kept: Array<BatchResult<A, B, unknown>> | undefined
  /** Clock times of the start and of the latest result (or the end): the summary's elapsed time. */
  let startedAt: number | undefined
  let lastAt = 0
  let consumed = false

  const elapsed = () => startedAt === undefined ? 0 : lastAt - startedAt
  const stamp = Effect.map(Clock.currentTimeMillis, (now) => {
    lastAt = now
  })

  /** Completes when the signal aborts (never without one). */
  const aborted = Effect.async<void>((resume) => {
    if (signal === undefined) return
    if (signal.aborted) return resume(Effect.void)
    const onAbort = () => resume(Effect.void)
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })

  const results$ = stream(
    source,
    (item: A, context: AttemptContext) =>
      Effect.tryPromise({
        try: async (attemptSignal) => fn(item, { ...context, signal: attemptSignal }),
        catch: (error) => error
      }),
    effectOptions
  ).pipe(
    Stream.tap((result) =>
      Effect.zipRight(
        stamp,
        Effect.promise(async () => {
          summary.add(result)
          kept?.push(result)
          if (onResult !== undefined) await onResult(result)
        })
      )
    ),
    Stream.interruptWhen(aborted),
    (results) =>
      Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) => {
        startedAt = now
        lastAt = now
        return results
      })),
    Stream.ensuring(stamp)
  )

  async function* iterate(): AsyncGenerator<BatchResult<A, B, unknown>> {
    if (consumed) throw new Error("processBatch: a batch can be iterated only once")
    consumed = true
    signal?.throwIfAborted()
    yield* Stream.toAsyncIterable(results$)
    signal?.throwIfAborted()
  }

  return {
    [Symbol.asyncIterator]: () => iterate(),
    collect: async () => {
      kept = []
      for await (const _ of iterate()) {
        // results are kept by the stream
      }
      const results = kept.sort((a, b) => a.index - b.index)
      return { results, summary: summary.summary(elapsed()) }
    },
    summary: () => summary.summary(elapsed())
  }
}
