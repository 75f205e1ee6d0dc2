import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

const runConfig = (maxEvaluations: number, seed: number) => ({
  max_evaluations: maxEvaluations,
  seed,
  concurrency: { proposals: 2, evaluations: 2 },
  evaluator: { timeout_seconds: 10 },
  llm: { provider: "offline" },
  population: {
    islands: 2,
    migration_interval: 5,
    map_elites: { features: [{ name: "code_length", bins: 4 }, { name: "mean_value", bins: 3 }] },
    objectives: [{ metric: "combined_score" }, { metric: "mean_value", direction: "minimize" }]
  },
  search: { stall_window: 3, meta_note_every: 8 }
})

const finished = (server: Running, runId: string, lastEventId = 0) =>
  server.events(`/api/runs/${runId}/events`, (es) => es.some((e) => e.event === "RunStatusChanged" && e.data.status === "completed"), {
    lastEventId
  })

describe("the explorer's API", () => {
  let server: Running
  let runId: string
  let other: string
  beforeAll(async () => {
    server = await startServer()
    const create = (seed: number) =>
      server.post("/api/runs", { program: example("initial_program.mjs"), evaluator: example("evaluator.mjs"), config: runConfig(24, seed) })
    const [a, b] = await Promise.all([create(5), create(6)])
    expect(a.status).toBe(201)
    runId = a.body.id
    other = b.body.id
    await Promise.all([finished(server, runId), finished(server, other)])
  })
  afterAll(async () => {
    await server?.close()
  })

  it("serves every program as a lineage node with its parent edge, and the path to the best", async () => {
    const all = await server.json(`/api/runs/${runId}/programs?limit=1000`)
    const lineage = await server.json(`/api/runs/${runId}/lineage`)
    expect(lineage.status).toBe(200)
    const l = lineage.body
    // Columns: one entry per program, edges as the parent's index.
    const nodes: Array<any> = l.id.map((id: string, i: number) => ({ id, parent: l.parent[i], status: l.status[i], score: l.score[i] }))
    expect(nodes.length).toBe(all.body.total)
    for (const column of ["status", "score", "island", "generation", "createdAt", "failureKind"]) expect(l[column].length).toBe(nodes.length)
    const roots = nodes.filter((n) => n.parent === -1)
    expect(roots.length).toBe(1)
    const programs = new Map(all.body.items.map((p: any) => [p.id, p]))
    for (const n of nodes) {
      const program: any = programs.get(n.id)
      expect(program.status).toBe(n.status)
      expect(n.parent === -1 ? null : nodes[n.parent].id).toBe(program.parentId)
    }
    const path: Array<string> = l.bestPath
    expect(path[0]).toBe(roots[0].id)
    expect(path.at(-1)).toBe(l.bestId)
    const byId = new Map(nodes.map((n) => [n.id, n]))
    path.slice(1).forEach((id, i) => expect(nodes[byId.get(id).parent].id).toBe(path[i]))
    const best = Math.max(...nodes.filter((n) => n.status === "evaluated").map((n) => n.score))
    expect(byId.get(l.bestId).score).toBe(best)
    const scoredOnly = await server.json(`/api/runs/${runId}/lineage?include=evaluated`)
    expect(scoredOnly.body.status.every((s: string) => s === "evaluated")).toBe(true)
    expect(scoredOnly.body.id.length).toBe(nodes.filter((n) => n.status === "evaluated").length)
    expect((await server.json(`/api/runs/run_nope/lineage`)).status).toBe(404)
  })

  it("pages, sorts and filters programs by any column or metric", async () => {
    const page = await server.json(`/api/runs/${runId}/programs?sort=generation&order=asc&limit=7&offset=2`)
    expect(page.status).toBe(200)
    expect(page.body.items.length).toBe(7)
    expect(page.body.metrics).toEqual(expect.arrayContaining(["combined_score", "mean_value"]))
    const gens = page.body.items.map((p: any) => p.generation)
    expect(gens).toEqual([...gens].sort((a, b) => a - b))
    const byMetric = await server.json(`/api/runs/${runId}/programs?sort=metric:mean_value&order=asc&limit=1000`)
    const values = byMetric.body.items.map((p: any) => p.metrics?.mean_value ?? null)
    const present = values.filter((v: number | null) => v !== null)
    expect(present.length).toBeGreaterThan(3)
    expect(present).toEqual([...present].sort((a: number, b: number) => a - b))
    expect(values.slice(present.length).every((v: number | null) => v === null)).toBe(true)
    const evaluated = await server.json(`/api/runs/${runId}/programs?status=evaluated&island=1&limit=1000`)
    expect(evaluated.body.items.every((p: any) => p.status === "evaluated" && p.island === 1)).toBe(true)
    const model = await server.json(`/api/runs/${runId}/programs?model=offline&limit=1000`)
    expect(model.body.total).toBe(page.body.total - 1) // all but the initial program
    const text = await server.json(`/api/runs/${runId}/programs?q=${encodeURIComponent("FUNCTION SEARCH")}&limit=1000`)
    expect(text.body.total).toBeGreaterThan(0)
    expect((await server.json(`/api/runs/${runId}/programs?q=${encodeURIComponent("no_such_text_%_anywhere")}`)).body.total).toBe(0)
    expect((await server.json(`/api/runs/${runId}/programs?sort=bogus`)).status).toBe(400)
  })

  it("serves any metric as a series, the throughput timeline, islands, MAP-Elites, Pareto and models", async () => {
    const series = await server.json(`/api/runs/${runId}/series?metric=mean_value`)
    expect(series.body.metrics).toEqual(expect.arrayContaining(["score", "mean_value", "combined_score"]))
    const finished = series.body.at.length
    expect(series.body.at).toEqual([...series.body.at].sort((a: number, b: number) => a - b))
    const scores = await server.json(`/api/runs/${runId}/series`)
    expect(scores.body.programId).toEqual(series.body.programId)
    const evaluated = (await server.json(`/api/runs/${runId}/programs?status=evaluated&limit=1000`)).body.items
    const byId = new Map(evaluated.map((p: any) => [p.id, p]))
    series.body.programId.forEach((id: string, i: number) => {
      const p: any = byId.get(id)
      expect(series.body.value[i]).toBe(p === undefined ? null : p.metrics.mean_value)
      expect(scores.body.value[i]).toBe(p === undefined ? null : p.score)
    })

    const timeline = await server.json(`/api/runs/${runId}/timeline?buckets=50`)
    const t = timeline.body
    expect(t.llm.length).toBe(50)
    expect(t.evaluation.length).toBe(50)
    expect(t.completed.reduce((a: number, b: number) => a + b, 0)).toBe(finished)
    expect(Math.max(...t.evaluation)).toBeLessThanOrEqual(2.0001) // W = 2
    expect(t.utilization.evaluation).toBeGreaterThan(0)
    expect(["llm", "evaluator", "neither", "unknown"]).toContain(t.bottleneck)

    const islands = await server.json(`/api/runs/${runId}/islands`)
    expect(islands.body.map((i: any) => i.island)).toEqual([0, 1])
    const total = (await server.json(`/api/runs/${runId}/programs?limit=1`)).body.total
    expect(islands.body.reduce((s: number, i: any) => s + i.programs, 0)).toBe(total)

    // Adaptive search's decisions with their reasons; the offline model's meta-note restates the facts.
    const decisions = (await server.json(`/api/runs/${runId}/decisions`)).body
    expect(decisions.length).toBeGreaterThan(0)
    expect(decisions.map((d: any) => d.seq)).toEqual(decisions.map((_: unknown, i: number) => i + 1))
    for (const d of decisions) {
      expect(["stall_detected", "exploration_changed", "migrated", "shift_proposed", "note_written"]).toContain(d.kind)
      expect(d.reason.length).toBeGreaterThan(10)
    }
    const note = decisions.find((d: any) => d.kind === "note_written")
    expect(note.note).toContain("Offline meta-note")
    expect(note.evaluations).toBeGreaterThanOrEqual(8)

    const grid = await server.json(`/api/runs/${runId}/map-elites`)
    expect(grid.body.features).toEqual([{ name: "code_length", bins: 4 }, { name: "mean_value", bins: 3 }])
    expect(grid.body.cells.length).toBeGreaterThan(0)
    for (const c of grid.body.cells) expect(c.coordinates[0] < 4 && c.coordinates[1] < 3).toBe(true)

    const pareto = await server.json(`/api/runs/${runId}/pareto`)
    expect(pareto.body.objectives.length).toBe(2)
    expect(pareto.body.front.length).toBeGreaterThan(0)
    expect(pareto.body.values.map((v: Array<number>) => v.length)).toEqual([pareto.body.programId.length, pareto.body.programId.length])
    const pointIds = new Set(pareto.body.programId)
    for (const id of pareto.body.front) expect(pointIds.has(id)).toBe(true)

    const models = await server.json(`/api/runs/${runId}/models?buckets=20`)
    expect(models.body.models.map((m: any) => m.model)).toEqual(["offline"])
    expect(models.body.arms[0].outcomes).toBe(total - 1)
  })

  it("compares runs, compares and downloads programs", async () => {
    const compared = await server.json(`/api/compare?runs=${runId},${other}`)
    expect(compared.body.map((c: any) => c.runId)).toEqual([runId, other])
    for (const c of compared.body) {
      const bests = c.points.map((p: any) => p.best).filter((b: number | null) => b !== null)
      expect(bests).toEqual([...bests].sort((a: number, b: number) => a - b))
    }
    expect((await server.json(`/api/compare?runs=${runId}`)).status).toBe(400)

    const lineage = (await server.json(`/api/runs/${runId}/lineage`)).body
    const [a, b] = [lineage.bestPath[0], lineage.bestId]
    const diff = await server.json(`/api/programs/${b}/diff?against=${a}`)
    expect(diff.body.from).toBe(a)
    expect(diff.body.diff).toMatch(/^--- a\/initial_program\.mjs\n\+\+\+ b\/initial_program\.mjs\n/m)
    const detail = await server.json(`/api/programs/${b}`)
    expect(detail.body.fileName).toBe("initial_program.mjs")
    expect(detail.body.diff).toContain("--- a/initial_program.mjs\n+++ b/initial_program.mjs")
    // What the proposal of the best program sent and got back (the offline model answers too).
    expect(detail.body.transcripts).toMatchObject([{ attempt: 0, model: "offline", response: expect.stringContaining("SEARCH") }])
    // Diff rules, or whole-program rules when adaptive search asked for a rewrite (it may, on a stalled island).
    expect(detail.body.transcripts[0].system).toMatch(/SEARCH\/REPLACE|complete new program/)
    const code = await server.raw(`/api/programs/${b}/code?download=true`)
    expect(code.status).toBe(200)
    expect(code.headers["content-disposition"]).toBe(`attachment; filename="${b}-initial_program.mjs"`)
    expect(code.body).toBe(detail.body.code)
  })

  it("extends a finished run, archives and deletes runs", async () => {
    const before = (await server.json(`/api/runs/${other}`)).body
    expect(before.status).toBe("completed")
    const extended = await server.post(`/api/runs/${other}/extend`, { max_evaluations: before.maxEvaluations + 4 })
    expect(extended.status).toBe(200)
    expect(extended.body.maxEvaluations).toBe(before.maxEvaluations + 4)
    expect((await server.raw(`/api/runs/${other}`, { method: "DELETE" })).status).toBe(409)
    await finished(server, other, before.lastEventId)
    const after = (await server.json(`/api/runs/${other}`)).body
    expect(after.evaluated + after.failed).toBeGreaterThan(before.evaluated + before.failed)

    const archived = await server.post(`/api/runs/${other}/archive`, { archived: true })
    expect(archived.body.archived).toBe(true)
    const listed = (await server.json(`/api/runs`)).body
    expect(listed.find((r: any) => r.id === other).archived).toBe(true)
    expect(listed.find((r: any) => r.id === runId).archived).toBe(false)
    expect(listed.find((r: any) => r.id === runId).modelNames).toEqual(["offline"])

    const deleted = await server.raw(`/api/runs/${other}`, { method: "DELETE" })
    expect(deleted.status).toBe(204)
    expect((await server.json(`/api/runs/${other}`)).status).toBe(404)
    expect((await server.json(`/api/runs`)).body.some((r: any) => r.id === other)).toBe(false)
    expect((await server.raw(`/api/runs/${other}`, { method: "DELETE" })).status).toBe(404)
  })

  it("documents every endpoint the UI uses in the OpenAPI document", async () => {
    const paths = Object.keys((await server.json("/openapi.json")).body.paths)
    for (const path of [
      "/api/runs/{runId}/lineage", "/api/runs/{runId}/programs", "/api/runs/{runId}/timeline", "/api/runs/{runId}/series",
      "/api/runs/{runId}/islands", "/api/runs/{runId}/decisions", "/api/runs/{runId}/map-elites", "/api/runs/{runId}/pareto", "/api/runs/{runId}/models",
      "/api/runs/{runId}/extend", "/api/runs/{runId}/archive", "/api/runs/{runId}", "/api/compare", "/api/programs/{programId}/diff",
      "/api/programs/{programId}/code", "/api/workspace/files", "/api/defaults"
    ]) expect(paths).toContain(path)
    const programs = (await server.json("/openapi.json")).body.paths["/api/runs/{runId}/programs"].get.parameters.map((p: any) => p.name)
    expect(programs).toEqual(expect.arrayContaining(["limit", "offset", "sort", "order", "status", "island", "model", "failure", "q"]))
  })

  it("lists workspace files for the new-run form, never outside the workspace, and the server's defaults", async () => {
    const root = await server.json(`/api/workspace/files`)
    expect(root.status).toBe(200)
    expect(root.body.dir).toBe("")
    expect(root.body.entries.find((e: any) => e.name === "examples").kind).toBe("directory")
    expect(root.body.entries.some((e: any) => e.name.startsWith("."))).toBe(false)
    const dir = await server.json(`/api/workspace/files?dir=examples/function_minimization`)
    const file = dir.body.entries.find((e: any) => e.name === "evaluator.mjs")
    expect(file).toMatchObject({ kind: "file", path: "examples/function_minimization/evaluator.mjs" })
    for (const outside of ["..", "/etc", "examples/../.."]) {
      const refused = await server.json(`/api/workspace/files?dir=${encodeURIComponent(outside)}`)
      expect(refused.status).toBe(400)
      expect(refused.body.path).toBe("dir")
    }
    const defaults = await server.json(`/api/defaults`)
    expect(defaults.body.workspace).toBe(root.body.root)
    expect(defaults.body.providers).toContain("offline")

    // The form sends its fields as config over the YAML settings.
    const created = await server.post("/api/runs", {
      program: "examples/function_minimization/initial_program.mjs",
      evaluator: "examples/function_minimization/evaluator.mjs",
      config_yaml: "max_evaluations: 3\nllm:\n  provider: offline\n  temperature: 0.3\n",
      config: { max_evaluations: 2, llm: { provider: "offline" } }
    })
    expect(created.status).toBe(201)
    expect(created.body.config.max_evaluations).toBe(2)
    expect(created.body.config.llm.temperature).toBe(0.3)
    await finished(server, created.body.id)
  })
})
