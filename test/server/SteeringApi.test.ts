/** The steering endpoints of `evolve serve` (issue 17), over HTTP with the token, on an offline run. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

describe("evolve serve: steering endpoints", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("steers a running run (hint, clear, pin, unpin, ban, inject, model weight, concurrency); 409 once it stopped", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 100_000, seed: 7, concurrency: { proposals: 2, evaluations: 2 }, llm: { provider: "offline" } }
    })
    expect(created.status).toBe(201)
    const runId: string = created.body.id
    await server.events(`/api/runs/${runId}/events`, (es) => es.filter((e) => e.event === "CandidateEvaluated").length >= 3)

    const hint = await server.post(`/api/runs/${runId}/hints`, { text: "Try a golden-section search." })
    expect(hint.status).toBe(200)
    expect(hint.body.guidance).toMatchObject([{ version: 1, text: "Try a golden-section search.", clearedAt: null }])
    expect((await server.json(`/api/runs/${runId}/steering`)).body.guidance).toHaveLength(1)
    const cleared = await server.json(`/api/runs/${runId}/hints/1`, { method: "DELETE" })
    expect(cleared.status).toBe(200)
    expect(cleared.body.guidance[0].clearedAt).not.toBeNull()
    const clearAgain = await server.json(`/api/runs/${runId}/hints/1`, { method: "DELETE" })
    expect(clearAgain.status).toBe(400)
    expect(clearAgain.body.message).toMatch(/not in force/)

    const best = await server.json(`/api/runs/${runId}/best`)
    const pinned = await server.post(`/api/runs/${runId}/pin`, { programIds: [best.body.id] })
    expect(pinned.status).toBe(200)
    expect(pinned.body.pinned).toEqual([best.body.id])
    expect((await server.post(`/api/runs/${runId}/unpin`)).body.pinned).toEqual([])
    const badBan = await server.post(`/api/runs/${runId}/ban`, { programId: "p_nope" })
    expect(badBan.status).toBe(400)
    expect((await server.post(`/api/runs/${runId}/pin`, { programIds: [] })).status).toBe(400)

    const injected = await server.post(`/api/runs/${runId}/inject`, { code: "export const x = 0.5 // by hand\n", note: "hand-written" })
    expect(injected.status).toBe(201)
    const programId: string = injected.body.programId
    const events = await server.events(`/api/runs/${runId}/events`, (es) =>
      es.some((e) => (e.event === "CandidateEvaluated" || e.event === "CandidateFailed") && e.data.programId === programId))
    expect(events.filter((e) => e.event === "RunSteered").map((e) => e.data.action)).toEqual(["AddHint", "ClearHint", "Pin", "Unpin", "Inject"])
    const program = await server.json(`/api/programs/${programId}`)
    expect(program.body.llm.model).toBe("human")
    expect(program.body.status).not.toBe("pending")

    const model: string = (await server.json(`/api/runs/${runId}`)).body.modelNames[0]
    const weight = await server.post(`/api/runs/${runId}/model-weight`, { model, weight: 3 })
    expect(weight.status).toBe(200)
    expect(weight.body.modelWeights).toEqual({ [model]: 3 })
    expect((await server.post(`/api/runs/${runId}/model-weight`, { model: "nope", weight: 1 })).status).toBe(400)
    const concurrency = await server.post(`/api/runs/${runId}/concurrency`, { proposals: 3 })
    expect(concurrency.body).toEqual({ proposals: 3, evaluations: 2 })

    expect((await server.post(`/api/runs/${runId}/stop`)).status).toBe(200)
    await server.events(`/api/runs/${runId}/events`, (es) => es.some((e) => e.event === "RunStatusChanged" && e.data.status === "interrupted"))
    const late = await server.post(`/api/runs/${runId}/hints`, { text: "too late" })
    expect(late.status).toBe(409)
    expect(late.body.message).toMatch(/not running/)
    // The history stays readable after the run stopped.
    const kept = await server.json(`/api/runs/${runId}/steering`)
    expect(kept.body).toMatchObject({ actions: 7, injected: [programId], modelWeights: { [model]: 3 } })

    const paths = Object.keys((await server.json("/openapi.json")).body.paths)
    for (const path of ["steering", "hints", "hints/{version}", "pin", "unpin", "ban", "inject", "model-weight", "concurrency"]) {
      expect(paths).toContain(`/api/runs/{runId}/${path}`)
    }
  })
})
