/** `evolve steer` against a running `evolve serve` (issue 17): flags become requests with the token; refusals exit 1. */
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { answerPrompt, listPrompts, type SteerArgs, steerRun } from "../../src/cli/Steer.js"
import { example, type Running, startServer } from "../server/support.js"

const none = Option.none()
const args = (server: Running, over: Partial<SteerArgs>): SteerArgs => ({
  runId: "",
  server: Option.some(server.url),
  tokenFile: Option.some(join(server.dir, "token")),
  db: none,
  hint: none,
  replaceGuidance: false,
  clearHint: none,
  pin: [],
  unpin: false,
  ban: [],
  inject: none,
  note: none,
  parallel: none,
  evalConcurrency: none,
  modelWeight: [],
  extend: none,
  ...over
} as SteerArgs)

const steer = (a: SteerArgs) => Effect.runPromiseExit(steerRun(a).pipe(Effect.provide(NodeContext.layer))).then((e) => { if (Exit.isFailure(e)) console.log(String(e.cause)); return e })

describe("evolve steer", () => {
  let server: Running
  beforeAll(async () => {
    server = await startServer()
    writeFileSync(join(server.dir, "token"), `${server.token}\n`)
  })
  afterAll(async () => {
    await server?.close()
  })

  it("sends hints, pins, injected programs, concurrency and more evaluations to a served run", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 100_000, seed: 3, concurrency: { proposals: 2, evaluations: 2 }, llm: { provider: "offline" } }
    })
    const runId: string = created.body.id
    await server.events(`/api/runs/${runId}/events`, (es) => es.filter((e) => e.event === "CandidateEvaluated").length >= 2)
    const best = (await server.json(`/api/runs/${runId}/best`)).body.id
    const file = join(server.dir, "mine.mjs")
    writeFileSync(file, "export const x = 0.25 // mine\n")

    const exit = await steer(args(server, { runId, hint: Option.some("Think in radians."), pin: [best], inject: Option.some(file), note: Option.some("mine"), parallel: Option.some(3), evalConcurrency: Option.some(1) }))
    expect(Exit.isSuccess(exit)).toBe(true)
    const steering = (await server.json(`/api/runs/${runId}/steering`)).body
    expect(steering.guidance.map((h: any) => h.text)).toEqual(["Think in radians."])
    expect(steering.pinned).toEqual([best])
    expect(steering.injected).toHaveLength(1)
    const live = (await server.json(`/api/runs/${runId}`)).body
    expect(live.config.concurrency).toMatchObject({ proposals: 3, evaluations: 1 })

    // The wrong token, or an unknown hint: refused, exit 1.
    writeFileSync(join(server.dir, "wrong"), "x".repeat(32))
    expect(Exit.isFailure(await steer(args(server, { runId, tokenFile: Option.some(join(server.dir, "wrong")), unpin: true })))).toBe(true)
    expect(Exit.isFailure(await steer(args(server, { runId, clearHint: Option.some(9) })))).toBe(true)

    // A stopped run refuses steering.
    await server.post(`/api/runs/${runId}/stop`)
    await server.events(`/api/runs/${runId}/events`, (es) => es.some((e) => e.event === "RunStatusChanged" && e.data.status === "interrupted"))
    expect(Exit.isFailure(await steer(args(server, { runId, hint: Option.some("late") })))).toBe(true)
  })

  it("--extend N: a completed run runs N more evaluations", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 4, seed: 3, concurrency: { proposals: 2, evaluations: 2 }, llm: { provider: "offline" } }
    })
    const runId: string = created.body.id
    const completed = (es: ReadonlyArray<{ event: string; data: any }>) => es.filter((e) => e.event === "RunStatusChanged" && e.data.status === "completed").length
    await server.events(`/api/runs/${runId}/events`, (es) => completed(es) >= 1)
    expect((await server.json(`/api/runs/${runId}`)).body).toMatchObject({ status: "completed", evaluated: 4 })
    expect(Exit.isSuccess(await steer(args(server, { runId, extend: Option.some(3) })))).toBe(true)
    await server.events(`/api/runs/${runId}/events`, (es) => completed(es) >= 2)
    expect((await server.json(`/api/runs/${runId}`)).body).toMatchObject({ status: "completed", evaluated: 7, maxEvaluations: 7 })
  })
  it("evolve prompts / evolve answer: a person answers a human model's prompt with a whole program", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 2, concurrency: { proposals: 1, evaluations: 1 }, llm: { provider: "human" } }
    })
    const runId: string = created.body.id
    let waiting: Array<any> = []
    for (let i = 0; i < 200 && waiting.length === 0; i++) {
      waiting = (await server.json(`/api/runs/${runId}/prompts`)).body
      if (waiting.length === 0) await new Promise((r) => setTimeout(r, 50))
    }
    expect(waiting).toHaveLength(1)
    const flags = { server: Option.some(server.url), tokenFile: Option.some(join(server.dir, "token")), db: none as Option.Option<string> }
    expect(Exit.isSuccess(await Effect.runPromiseExit(listPrompts({ ...flags, runId }).pipe(Effect.provide(NodeContext.layer))))).toBe(true)
    const file = join(server.dir, "answer.mjs")
    writeFileSync(file, readFileSync(example("initial_program.mjs"), "utf8").replace("const restarts = 2", "const restarts = 4 // a person's choice"))
    const answered = await Effect.runPromiseExit(answerPrompt({ ...flags, promptId: waiting[0].id, file }).pipe(Effect.provide(NodeContext.layer)))
    expect(Exit.isSuccess(answered)).toBe(true)
    const again = await Effect.runPromiseExit(answerPrompt({ ...flags, promptId: waiting[0].id, file }).pipe(Effect.provide(NodeContext.layer)))
    expect(Exit.isFailure(again)).toBe(true)
    const events = await server.events(`/api/runs/${runId}/events`, (es) => es.some((e) => e.event === "CandidateEvaluated" && e.data.programId !== undefined && es.some((p) => p.event === "CandidateProposed" && p.data.programId === e.data.programId)))
    const proposed = events.find((e) => e.event === "CandidateProposed")!
    expect(proposed.data.model).toBe("human")
    expect((await server.json(`/api/programs/${proposed.data.programId}`)).body.code).toContain("a person's choice")
  })
})
