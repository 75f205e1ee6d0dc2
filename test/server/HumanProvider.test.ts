/** provider: human (issue 17): a mixed ensemble's human prompts queue on evolve serve, a person answers over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

describe("evolve serve: provider human", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("queues the human model's prompts while the other model goes on; an answer is evaluated like a model's", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: {
        max_evaluations: 100_000,
        seed: 11,
        concurrency: { proposals: 3, evaluations: 2 },
        llm: { models: [{ model: "offline", provider: "offline" }, { model: "person", provider: "human", weight: 0.5 }] }
      }
    })
    expect(created.status).toBe(201)
    const runId: string = created.body.id
    let prompts: Array<any> = []
    for (let i = 0; i < 200 && prompts.length === 0; i++) {
      prompts = (await server.json(`/api/runs/${runId}/prompts`)).body
      if (prompts.length === 0) await new Promise((r) => setTimeout(r, 50))
    }
    expect(prompts.length).toBeGreaterThan(0)
    const prompt = prompts[0]
    expect(prompt).toMatchObject({ runId, model: "person" })
    expect(prompt.user).toContain("# Current program")
    // The offline model keeps the run going while the prompt waits.
    await server.events(`/api/runs/${runId}/events`, (es) => es.filter((e) => e.event === "CandidateEvaluated").length >= 5)
    expect((await server.json(`/api/runs/${runId}/prompts`)).body.map((p: any) => p.id)).toContain(prompt.id)

    const line = "  // A deliberately naive simulated annealing with poorly chosen parameters."
    const answer = `A note.\n\n<<<<<<< SEARCH\n${line}\n=======\n${line}\n  // answered by a person\n>>>>>>> REPLACE\n`
    const answered = await server.post(`/api/prompts/${prompt.id}/answer`, { text: answer })
    expect(answered.status).toBe(204)
    expect((await server.post(`/api/prompts/${prompt.id}/answer`, { text: answer })).status).toBe(404)
    const events = await server.events(`/api/runs/${runId}/events`, (es) =>
      es.some((e) => e.event === "CandidateProposed" && e.data.model === "person"))
    const proposed = events.find((e) => e.event === "CandidateProposed" && e.data.model === "person")!
    const program = await server.json(`/api/programs/${proposed.data.programId}`)
    expect(program.body.code).toContain("answered by a person")
    expect(program.body.llm.model).toBe("person")
    await server.post(`/api/runs/${runId}/stop`)
  })
})
