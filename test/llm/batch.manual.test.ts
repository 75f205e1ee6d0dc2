import { expect, it } from "vitest"
import { benchBatchVsSequential } from "../../src/llm/LlmBatchBench.js"
import { startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"

// EVOLVE_LLM_BENCH=1 npx vitest run test/llm/batch.manual.test.ts — npm run bench measures the same.
it.skipIf(!process.env.EVOLVE_LLM_BENCH)("llmBatch: 6 models × 1 prompt at 1 s latency vs a sequential loop", async () => {
  const server = await startFakeOpenAiServer({ latency: 1000 })
  try {
    const r = await benchBatchVsSequential({ baseUrl: server.url, models: 6 })
    console.log(JSON.stringify(r))
    expect(r.batchSucceeded).toBe(6)
  } finally {
    await server.close()
  }
}, 60_000)
