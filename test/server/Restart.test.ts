import { describe, expect, it } from "vitest"
import { example, startServer, tempDir } from "./support.js"

describe("evolve serve restarts", () => {
  it("stops hosted runs gracefully on shutdown and resumes them at the next start", async () => {
    const dir = tempDir()
    const first = await startServer({ dir })
    const created = await first.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 100000, seed: 5, concurrency: { proposals: 2, evaluations: 2 }, llm: { provider: "offline" } }
    })
    expect(created.status).toBe(201)
    const runId: string = created.body.id
    await first.events(`/api/runs/${runId}/events`, (es) => es.filter((e) => e.event === "CandidateEvaluated").length >= 3)
    const t0 = performance.now()
    await first.close()
    const closeMs = performance.now() - t0
    console.log(`shutdown took ${closeMs.toFixed(0)} ms`)

    const second = await startServer({ dir })
    try {
      const run = await second.json(`/api/runs/${runId}`)
      expect(run.body.active).toBe(true)
      const events = await second.events(`/api/runs/${runId}/events`, (es) =>
        es.some((e) => e.event === "RunStarted" && e.data.resumed === true))
      const stopped = events.find((e) => e.event === "RunStatusChanged" && e.data.reason === "server shutdown")
      expect(stopped).toBeDefined()
      expect((await second.post(`/api/runs/${runId}/pause`)).status).toBe(200)
      await second.events(`/api/runs/${runId}/events`, (es) =>
        es.some((e) => e.event === "RunStatusChanged" && e.data.reason === "paused"), { lastEventId: events.at(-1)!.id! })
    } finally {
      await second.close()
    }
  })
})
