import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { fileStem, runGenerate } from "../../src/cli/GenerateCommand.js"
import { fakeOpenAiServer } from "../support/FakeOpenAiServer.js"

const TRADE = "```python\ndef execute_trade(order):\n    return order\n```"

describe("evolve generate", () => {
  it.live("writes one file per model, summary.json, and fails only the invalid / broken ones", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const server = yield* fakeOpenAiServer({
        latency: 30,
        modelFaults: { "broken/model": { mix: { "400": 1 } } },
        responder: (info) => (info.body.model === "lazy" ? "```python\ndef nope():\n    pass\n```" : TRADE)
      })
      yield* fs.writeFileString(`${dir}/prompt.md`, "Write execute_trade(order).")
      const exit = yield* Effect.exit(runGenerate({
        models: "good, lazy ,broken/model",
        prompt: `${dir}/prompt.md`,
        out: `${dir}/out`,
        system: Option.none(),
        validateSymbol: Option.some("execute_trade"),
        config: Option.none(),
        provider: Option.none(),
        baseUrl: Option.some(server.url),
        timeout: Option.some(10),
        concurrency: Option.none(),
        temperature: Option.none()
      }))
      expect(Exit.isSuccess(exit)).toBe(true)
      const files = (yield* fs.readDirectory(`${dir}/out`)).sort()
      expect(files).toEqual(["good.py", "lazy.invalid.py", "summary.json"])
      expect(yield* fs.readFileString(`${dir}/out/good.py`)).toBe("def execute_trade(order):\n    return order\n")
      const summary = JSON.parse(yield* fs.readFileString(`${dir}/out/summary.json`))
      expect(summary.map((r: any) => [r.model, r.status])).toEqual([
        ["good", "ok"],
        ["lazy", "invalid_output"],
        ["broken/model", "bad_request"]
      ])
      expect(fileStem("org/model:7b")).toBe("org_model_7b")
      expect(server.inFlightMax).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("exits 1 when no model answered validly, 2-style ConfigError for a missing prompt", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const server = yield* fakeOpenAiServer({ faults: { mix: { "401": 1 } } })
      yield* fs.writeFileString(`${dir}/p.md`, "hi")
      const args = {
        models: "m",
        prompt: `${dir}/p.md`,
        out: `${dir}/o`,
        system: Option.none(),
        validateSymbol: Option.none(),
        config: Option.none(),
        provider: Option.none(),
        baseUrl: Option.some(server.url),
        timeout: Option.none(),
        concurrency: Option.none(),
        temperature: Option.none()
      }
      const failed = yield* Effect.exit(runGenerate(args))
      expect(Exit.isFailure(failed) && JSON.stringify(failed.cause)).toContain("CliExit")
      const missing = yield* Effect.exit(runGenerate({ ...args, prompt: `${dir}/none.md` }))
      expect(Exit.isFailure(missing) && JSON.stringify(missing.cause)).toContain("ConfigError")
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
})
