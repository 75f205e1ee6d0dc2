/**
 * Scenario 6 — llmBatch speed-up: 6 models × 1 prompt against the fake server with 1 s latency,
 * as one `llmBatch` and as a sequential loop over the same client (src/llm/LlmBatchBench.ts).
 * The ideal speed-up is 6×.
 */
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { benchBatchVsSequential } from "../../../src/llm/LlmBatchBench.js"
import { figure, log, runScenario } from "../protocol.js"
import { round } from "../stats.js"

const MODELS = 6

runScenario(async ({ quick }) => {
  const latencyMs = quick ? 100 : 1000
  log(`llmBatch: ${MODELS} models × 1 prompt, LLM ${latencyMs} ms, batch vs sequential loop`)
  const server = await startFakeOpenAiServer({ latency: latencyMs, seed: 1 })
  try {
    const result = await benchBatchVsSequential({ baseUrl: server.url, models: MODELS })
    log(`  batch ${result.batchMs} ms, sequential ${result.sequentialMs} ms: ${round(result.speedup, 2)}×`)
    return {
      scenario: "llmBatch",
      title: "llmBatch speed-up",
      quick,
      figures: [
        figure(
          "llmBatch.speedup",
          `llmBatch, ${MODELS} models × 1 prompt, ${latencyMs} ms latency: speed-up over a sequential loop`,
          round(result.speedup, 2),
          "×"
        )
      ],
      details: { latencyMs, ...result }
    }
  } finally {
    await server.close()
  }
})
