import { describe, expect, it } from "vitest"
import { RetryableError } from "../../src/batch/BatchProcessor.js"
import { processBatch } from "../../src/batch/processBatch.js"

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => {
      clearTimeout(t)
      reject(signal.reason)
    })
  })

describe("processBatch (Promise form)", () => {
  it("yields results as they finish, in completion order", async () => {
    // Each item finishes when the test releases it: the order is the test's, not the timers'.
    const release = new Map<number, () => void>()
    const results = processBatch([0, 1, 2], (item) => new Promise<number>((resolve) => release.set(item, () => resolve(item))), {
      concurrency: 3
    })[Symbol.asyncIterator]()
    const first = results.next()
    while (release.size < 3) await new Promise((resolve) => setImmediate(resolve))
    const order: Array<number> = []
    for (const [item, next] of [[1, first], [2, undefined], [0, undefined]] as const) {
      release.get(item)!()
      const result = await (next ?? results.next())
      expect(result.done).toBe(false)
      if (result.done !== true) {
        expect(result.value.ok).toBe(true)
        order.push(result.value.index)
      }
    }
    expect(order).toEqual([1, 2, 0])
    expect((await results.next()).done).toBe(true)
  })

  it("keeps input order when asked and collects a summary", async () => {
    const seen: Array<number> = []
    const { results, summary } = await processBatch(
      [3, 1, 2, 0],
      async (ms) => {
        await sleep(ms * 20)
        return ms * 2
      },
      { concurrency: 2, ordered: true, onResult: (r) => void seen.push(r.index) }
    ).collect()
    expect(results.map((r) => r.ok && r.value)).toEqual([6, 2, 4, 0])
    expect(seen).toEqual([0, 1, 2, 3])
    expect(summary).toMatchObject({ total: 4, succeeded: 4, failed: 0, maxConcurrency: 2 })
    expect(summary.elapsedMs).toBeGreaterThan(0)
  })

  it("returns partial failures and retries retryable errors only", async () => {
    const attempts = new Map<string, number>()
    const { results, summary } = await processBatch(["ok", "flaky", "broken"], async (item, ctx) => {
      attempts.set(item, ctx.attempt)
      if (item === "broken") throw new Error("broken for good")
      if (item === "flaky" && ctx.attempt < 2) throw new RetryableError({ message: "try again" })
      return item.toUpperCase()
    }, { retry: { times: 3, baseDelay: 1, jitter: false } }).collect()
    expect(results.map((r) => r.ok)).toEqual([true, true, false])
    expect(results[1]).toMatchObject({ value: "FLAKY", attempts: 2 })
    expect(results[2]).toMatchObject({ attempts: 1 })
    expect(results[2]!._tag === "Failure" && (results[2]!.error as Error).message).toBe("broken for good")
    // a plain object marked retryable counts too
    expect(attempts.get("broken")).toBe(1)
    expect(summary).toMatchObject({ succeeded: 2, failed: 1, retries: 1 })
  })

  it("treats errors with retryable: true as retryable and times out attempts", async () => {
    const { results } = await processBatch([0, 1], async (i, ctx) => {
      if (i === 0 && ctx.attempt === 1) throw Object.assign(new Error("429"), { retryable: true })
      if (i === 1) await sleep(10_000, ctx.signal)
      return i
    }, { timeout: 50, retry: { times: 1, baseDelay: 1, jitter: false } }).collect()
    expect(results[0]).toMatchObject({ ok: true, attempts: 2 })
    expect(results[1]).toMatchObject({ ok: false, attempts: 2 })
    expect(results[1]!._tag === "Failure" && results[1]!.error).toMatchObject({ _tag: "BatchTimeout" })
  })

  it("reads an async iterable source", async () => {
    async function* numbers() {
      for (let i = 0; i < 5; i++) {
        await sleep(1)
        yield i
      }
    }
    const { results } = await processBatch(numbers(), (n) => n + 1, { ordered: true }).collect()
    expect(results.map((r) => r.ok && r.value)).toEqual([1, 2, 3, 4, 5])
  })

  it("breaking out of the loop interrupts the items in flight", async () => {
    const aborted: Array<number> = []
    const started: Array<number> = []
    for await (const result of processBatch([0, 1, 2, 3, 4, 5], async (i, ctx) => {
      started.push(i)
      ctx.signal.addEventListener("abort", () => aborted.push(i))
      await sleep(i === 0 ? 5 : 10_000, ctx.signal)
      return i
    }, { concurrency: 3 })) {
      expect(result.index).toBe(0)
      break
    }
    // Item 0's slot may already have gone to item 3 when the loop broke off.
    expect(started.length).toBeLessThanOrEqual(4)
    expect(aborted.sort()).toEqual(started.filter((i) => i !== 0).sort())
    expect(aborted.length).toBeGreaterThanOrEqual(2)
  })

  it("an aborted signal stops the batch and rejects with its reason", async () => {
    const controller = new AbortController()
    const run = processBatch([0, 1, 2], async (i, ctx) => {
      if (i === 0) controller.abort(new Error("stopped by the user"))
      await sleep(10_000, ctx.signal)
      return i
    }, { concurrency: 3, signal: controller.signal })
    await expect(run.collect()).rejects.toThrow("stopped by the user")
  })
})
