/**
 * The llmBatch benchmark (for scripts/bench): N models × 1 prompt against an OpenAI-compatible
 * server (the fake server with 1 s latency in `npm run bench`), as one batch and as a
 * sequential loop over the same client. Times come from `Clock`.
 */
import { Clock, Effect, ManagedRuntime } from "effect"
import { LlmClient } from "./LlmClient.js"
import { clientLayer, configFromOptions, runBatch } from "./LlmBatch.js"

export interface BatchBenchResult {
  readonly models: number
  readonly batchMs: number
  readonly sequentialMs: number
  /** sequentialMs / batchMs */
  readonly speedup: number
  readonly batchSucceeded: number
  readonly sequentialSucceeded: number
}

export const benchBatchVsSequential = (options: {
  readonly baseUrl: string
  readonly models?: number | undefined
  readonly prompt?: string | undefined
}): Promise<BatchBenchResult> => {
  const n = options.models ?? 6
  const models = Array.from({ length: n }, (_, i) => `bench-model-${i + 1}`)
  const prompt = options.prompt ?? "Write a function `f(x)` that returns x squared.\n\n```python\ndef f(x):\n    return 0\n```"
  return Effect.runPromise(configFromOptions([], { baseUrl: options.baseUrl, models, llm: { max_retries: 0 } })).then(
    async (config) => {
      const runtime = ManagedRuntime.make(clientLayer(config))
      try {
        return await runtime.runPromise(Effect.gen(function*() {
          const llm = yield* LlmClient
          yield* runBatch(["warm-up"], { allModels: true, concurrency: n }) // connection pool, JIT
          const t0 = yield* Clock.currentTimeMillis
          const batch = yield* runBatch([prompt], { allModels: true, concurrency: n })
          const t1 = yield* Clock.currentTimeMillis
          let sequentialSucceeded = 0
          for (const model of models) {
            const r = yield* Effect.either(llm.complete({ system: "", user: prompt, model }))
            if (r._tag === "Right") sequentialSucceeded++
          }
          const t2 = yield* Clock.currentTimeMillis
          return {
            models: n,
            batchMs: t1 - t0,
            sequentialMs: t2 - t1,
            speedup: (t2 - t1) / Math.max(1, t1 - t0),
            batchSucceeded: batch.filter((r) => r._tag === "Success").length,
            sequentialSucceeded
          }
        }))
      } finally {
        await runtime.dispose()
      }
    }
  )
}
