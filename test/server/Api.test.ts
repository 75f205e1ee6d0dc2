import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

const runConfig = (maxEvaluations: number) => ({
  max_evaluations: maxEvaluations,
  seed: 7,
  concurrency: { proposals: 2, evaluations: 2 },
  evaluator: { timeout_seconds: 10 },
  llm: { provider: "offline" }
})

describe("evolve serve HTTP API", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("creates a run, streams its events, stops, resumes, and serves its best program and lineage", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: runConfig(1000)
    })
    expect(created.status).toBe(201)
    const runId: string = created.body.id
    expect(created.body.active).toBe(true)
    expect(created.body.provider).toBe("offline")

    // Live events: a few evaluations, ids strictly increasing from 1.
    const first = await server.events(`/api/runs/${runId}/events`, (es) =>
      es.filter((e) => e.event === "CandidateEvaluated").length >= 4)
    expect(first.length).toBeGreaterThan(4)
    expect(first[0]!.id).toBe(1)
    expect(first[0]!.event).toBe("RunStarted")
    first.forEach((e, i) => expect(e.id).toBe(i + 1))

    const stopped = await server.post(`/api/runs/${runId}/stop`)
    expect(stopped.status).toBe(200)
    expect(["stopping", "interrupted"]).toContain(stopped.body.status)
    const untilStopped = await server.events(`/api/runs/${runId}/events`, (es) =>
      es.some((e) => e.event === "RunStatusChanged" && e.data.reason === "stopped by user"), { lastEventId: first.length })
    expect(untilStopped[0]!.id).toBe(first.length + 1) // nothing stored was missed on reconnect
    const afterStop = await server.json(`/api/runs/${runId}`)
    expect(afterStop.body.status).toBe("interrupted")
    expect(afterStop.body.active).toBe(false)
    expect(afterStop.body.stopReason).toBe("stopped by user")
    const evaluatedAtStop: number = afterStop.body.evaluated

    // Replay from the middle: exactly the stored events after that id, in order.
    const replay = await server.events(`/api/runs/${runId}/events`, (es) => es.length >= 3, { lastEventId: 2 })
    expect(replay.map((e) => e.id)).toEqual([3, 4, 5])
    expect(replay[0]).toEqual(first[2])

    const stopAgain = await server.post(`/api/runs/${runId}/stop`)
    expect(stopAgain.status).toBe(409)
    expect(stopAgain.body.message).toMatch(/not running/)

    const resumed = await server.post(`/api/runs/${runId}/resume`, { max_evaluations: evaluatedAtStop + 8 })
    expect(resumed.status).toBe(200)
    expect(resumed.body.active).toBe(true)
    const resumeTwice = await server.post(`/api/runs/${runId}/resume`)
    expect(resumeTwice.status).toBe(409)
    const finished = await server.events(`/api/runs/${runId}/events`, (es) =>
      es.some((e) => e.event === "RunStatusChanged" && e.data.status === "completed"), { lastEventId: first.length + untilStopped.length })
    expect(finished.some((e) => e.event === "RunStarted" && e.data.resumed === true)).toBe(true)

    const run = await server.json(`/api/runs/${runId}`)
    expect(run.body.status).toBe("completed")
    expect(run.body.evaluated).toBeGreaterThan(evaluatedAtStop)
    expect(run.body.bestScore).toBeGreaterThan(0)
    expect(run.body.models.length).toBeGreaterThan(0)
    // The new maximum is the run's from now on (issue 15: it used to keep reporting the old one).
    expect(run.body.config.max_evaluations).toBe(evaluatedAtStop + 8)
    expect(run.body.maxEvaluations).toBe(evaluatedAtStop + 8)
    // Counted as the run counts them: it completed at its maximum.
    expect(run.body.evaluations).toBe(run.body.maxEvaluations)
    expect(run.body.evaluations).toBeGreaterThanOrEqual(run.body.evaluated)

    const best = await server.json(`/api/runs/${runId}/best?highlight=true`)
    expect(best.status).toBe(200)
    expect(best.body.id).toBe(run.body.bestProgramId)
    expect(best.body.score).toBe(run.body.bestScore)
    expect(best.body.code).toContain("export function search")
    expect(best.body.highlighted).toContain("hljs-")
    expect(best.body.language).toBe("javascript")
    if (best.body.parentId !== null) {
      expect(best.body.diff).toContain("@@")
      expect(best.body.llmCalls.length).toBe(1)
      expect(best.body.llmCalls[0].purpose).toBe("proposal")
    }

    const lineage = await server.json(`/api/programs/${best.body.id}/lineage`)
    expect(lineage.status).toBe(200)
    expect(lineage.body.program.id).toBe(best.body.id)
    if (best.body.parentId !== null) {
      expect(lineage.body.ancestors[0].parentId).toBeNull()
      expect(lineage.body.ancestors.at(-1).id).toBe(best.body.parentId)
    }
    const root = await server.json(`/api/programs/${lineage.body.ancestors[0]?.id ?? best.body.id}/lineage`)
    expect(root.body.ancestors).toEqual([])
    expect(root.body.children.length).toBeGreaterThan(0)

    const byTime = await server.json(`/api/runs/${runId}/programs?sort=time&order=asc&limit=5`)
    expect(byTime.status).toBe(200)
    expect(byTime.body.items).toHaveLength(5)
    expect(byTime.body.total).toBeGreaterThan(5)
    expect(byTime.body.items[0].parentId).toBeNull()
    expect(byTime.body.items[0]).not.toHaveProperty("code")
    const byScore = await server.json(`/api/runs/${runId}/programs?sort=score&status=evaluated&island=0&limit=3`)
    expect(byScore.body.items[0].score).toBe(run.body.bestScore)
    expect(byScore.body.items.every((p: any) => p.status === "evaluated")).toBe(true)
    const page2 = await server.json(`/api/runs/${runId}/programs?sort=time&order=asc&limit=5&offset=5`)
    expect(page2.body.items[0].id).not.toBe(byTime.body.items[0].id)

    const scores = await server.json(`/api/runs/${runId}/scores`)
    expect(scores.body.points.length).toBeGreaterThan(5)

    const list = await server.json(`/api/runs`)
    expect(list.body.map((r: any) => r.id)).toContain(runId)

    const metrics = await fetch(`${server.url}/metrics`, { headers: server.auth })
    expect(metrics.headers.get("content-type")).toContain("text/plain")
    const text = await metrics.text()
    expect(text).toMatch(new RegExp(`evolve_evaluations_total\\{run="${runId}",outcome="scored"\\} \\d+`))
    expect(text).toContain("# TYPE evolve_llm_latency_seconds histogram")
    expect(text).toContain(`evolve_llm_calls_total{run="${runId}",model="offline",outcome="ok"}`)
    expect(text).toContain("evolve_queue_wait_seconds_bucket")
    const heapUsed = Number(/^nodejs_heap_size_used_bytes (\d+)$/m.exec(text)?.[1])
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1])
    expect(heapUsed).toBeGreaterThan(1_000_000)
    expect(rss).toBeGreaterThan(heapUsed)
  })

  it("serves the OpenAPI document, the docs page, the UI and its assets", async () => {
    const spec = await server.json(`/openapi.json`)
    expect(spec.status).toBe(200)
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(["/api/runs", "/api/runs/{runId}/events", "/api/programs/{programId}/lineage"]))
    const docs = await fetch(`${server.url}/docs`, { headers: server.auth })
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain("swagger")
    const page = await fetch(`${server.url}/`, { headers: server.auth })
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    expect(await page.text()).toContain("/assets/app.js")
    for (const asset of ["uplot.js", "uplot.css", "diff2html.js", "diff2html.css", "hljs.css", "app.js", "app.css"]) {
      const r = await fetch(`${server.url}/assets/${asset}`, { headers: server.auth })
      expect(r.status, asset).toBe(200)
      expect((await r.arrayBuffer()).byteLength, asset).toBeGreaterThan(100)
    }
    expect((await fetch(`${server.url}/assets/../package.json`, { headers: server.auth })).status).toBe(404)
  })

  it("reads a peer's config and evaluator as the CLI does: a Shinka evaluate.py, an OpenEvolve config_yaml", async () => {
    const shinka = await server.post(`/api/runs`, {
      program: "examples/shinka_spread_points/initial_program.py",
      evaluator: "examples/shinka_spread_points/evaluate.py",
      config: { ...runConfig(1), evaluator: { timeout_seconds: 30 } }
    })
    expect(shinka.status).toBe(201)
    expect(shinka.body.config.evaluator.contract).toBe("shinka")
    const openEvolve = await server.post(`/api/runs`, {
      program: "examples/circle_packing/initial_program.py",
      evaluator: "examples/circle_packing/evaluator.py",
      config_yaml: "max_iterations: 1\nrandom_seed: 3\nllm:\n  api_base: \"\"\ndatabase:\n  num_islands: 2\n",
      config: { llm: { provider: "offline" } }
    })
    expect(openEvolve.status).toBe(201)
    expect(openEvolve.body.config.evaluator.contract).toBe("openevolve")
    expect(openEvolve.body.config.max_evaluations).toBe(1)
    expect(openEvolve.body.config.population.islands).toBe(2)
    // A contract the request names is kept.
    const named = await server.post(`/api/runs`, {
      program: "examples/shinka_spread_points/initial_program.py",
      evaluator: "examples/shinka_spread_points/evaluate.py",
      config: { ...runConfig(1), evaluator: { contract: "command", timeout_seconds: 30 } }
    })
    expect(named.status).toBe(201)
    expect(named.body.config.evaluator.contract).toBe("command")
    for (const id of [shinka.body.id, openEvolve.body.id, named.body.id]) await server.post(`/api/runs/${id}/stop`)
  })

  it("answers bad requests with a 4xx and a message, and stays up", async () => {
    const runs = "/api/runs"
    const base = { program: example("initial_program.mjs"), evaluator: example("evaluator.mjs") }

    const malformed = await server.json(runs, { method: "POST", headers: { "content-type": "application/json" }, body: "{\"program\": " })
    expect(malformed.status).toBe(400)
    expect(malformed.body.message).toMatch(/malformed JSON/)

    const unknownField = await server.post(runs, { ...base, colour: "blue" })
    expect(unknownField.status).toBe(400)
    expect(JSON.stringify(unknownField.body)).toMatch(/colour/)

    const unknownKey = await server.post(runs, { ...base, config: { max_evaluation: 5 } })
    expect(unknownKey.status).toBe(400)
    expect(unknownKey.body.path).toBe("config.max_evaluation")
    expect(unknownKey.body.message).toMatch(/unknown key/)

    const wrongType = await server.post(runs, { ...base, config: { max_evaluations: "many" } })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body.path).toBe("config.max_evaluations")

    const nested = await server.post(runs, { ...base, config: { concurrency: { proposals: 0 } } })
    expect(nested.status).toBe(400)
    expect(nested.body.path).toBe("config.concurrency.proposals")

    const badYaml = await server.post(runs, { ...base, config_yaml: "max_evaluations: [1" })
    expect(badYaml.status).toBe(400)
    expect(badYaml.body.path).toBe("config_yaml")

    const wrongProgramType = await server.post(runs, { ...base, program: 42 })
    expect(wrongProgramType.status).toBe(400)
    expect(JSON.stringify(wrongProgramType.body)).toMatch(/program/)

    const missingFile = await server.post(runs, { ...base, program: example("nonexistent/program.mjs") })
    expect(missingFile.status).toBe(400)
    expect(missingFile.body.path).toBe("program")
    expect(missingFile.body.message).toMatch(/no such file/)

    const huge = await server.json(runs, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...base, config: { goal: "x".repeat(200_000) } })
    })
    expect(huge.status).toBe(413)
    expect(huge.body.message).toMatch(/larger than/)

    const notJson = await server.json(runs, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" })
    expect(notJson.status).toBe(415)

    const noRun = await server.json(`/api/runs/run_nope`)
    expect(noRun.status).toBe(404)
    expect(noRun.body.message).toMatch(/run_nope/)
    expect((await server.post(`/api/runs/run_nope/pause`)).status).toBe(404)
    expect((await server.json(`/api/runs/run_nope/events`)).status).toBe(404)
    expect((await server.json(`/api/programs/p_nope`)).status).toBe(404)
    expect((await server.json(`/api/programs/p_nope/lineage`)).status).toBe(404)
    const noRoute = await server.json(`/api/nothing`)
    expect(noRoute.status).toBe(404)
    expect(noRoute.body.message).toMatch(/no route/)

    const badQuery = await server.json(`/api/runs/run_nope/programs?limit=lots`)
    expect(badQuery.status).toBe(400)
    const badEventId = await server.json(`/api/runs/run_nope/events`, { headers: { "last-event-id": "abc" } })
    expect(badEventId.status).toBe(400)

    const crossOrigin = await server.json(runs, { headers: { origin: "http://evil.example" } })
    expect(crossOrigin.status).toBe(403)
    const rebinding = await server.raw(runs, { headers: { host: "evil.example:80" } })
    expect(rebinding.status).toBe(403)
    expect(rebinding.body).toMatch(/loopback host name/)
    const sameOrigin = await server.json(runs, { headers: { origin: server.url } })
    expect(sameOrigin.status).toBe(200)
    expect(sameOrigin.headers.get("access-control-allow-origin")).toBeNull()

    const still = await server.json(runs)
    expect(still.status).toBe(200)
  })
})
