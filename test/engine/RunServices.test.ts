/**
 * One assembly: the CLI (`evolve run`) and the library (`EvolveLive`) turn the same settings
 * into the same run services — contract, sandbox, limits, warm pool, cache, LLM — because both
 * go through RunServices. Any setting one path dropped would show up as a difference here.
 */
import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as Yaml from "yaml"
import * as Handlers from "../../src/cli/Handlers.js"
import type { RunConfigInput } from "../../src/domain/RunConfig.js"
import * as RunServices from "../../src/engine/RunServices.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { embeddedRun } from "../../src/facade/Layers.js"

const settings: RunConfigInput = {
  goal: "pack circles",
  language: "python",
  llm: { provider: "openai-chat", model: "m", base_url: "http://127.0.0.1:9/v1", cache: true, temperature: 0 },
  evaluator: {
    contract: "openevolve",
    sandbox: "bwrap",
    memory_mb: 512,
    cpu_seconds: 30,
    warm_pool: true,
    timeout_seconds: 45,
    cascade_evaluation: true,
    cascade_thresholds: [0.5]
  },
  concurrency: { proposals: 3, evaluations: 2 },
  max_evaluations: 17
}

describe("RunServices", () => {
  it.scoped("the facade and the CLI build the same services from the same settings", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const database = `${dir}/evolve.db`
      yield* fs.writeFileString(`${dir}/program.py`, "x = 1\n")
      yield* fs.writeFileString(`${dir}/evaluator.py`, "def evaluate(path):\n    return {'combined_score': 1.0}\n")
      yield* fs.writeFileString(`${dir}/evolve.yaml`, Yaml.stringify({ ...settings, database: { path: database } }))

      const cli = yield* Handlers.runSetup({
        program: `${dir}/program.py`,
        evaluator: `${dir}/evaluator.py`,
        config: Option.some(`${dir}/evolve.yaml`),
        flags: []
      })
      const facade = yield* embeddedRun(settings, { evaluatorPath: "evaluator.py", cwd: dir, database })
      const fromCli = RunServices.plan(cli.start.spec, cli.services)
      const fromFacade = RunServices.plan(facade.spec, facade.services)
      expect(fromFacade).toEqual(fromCli)
      // The settings really are in the plan (a dropped one would make both sides equal and wrong).
      expect(fromCli.evaluator).toMatchObject({ contract: "openevolve", sandbox: "bwrap", memory_mb: 512, cpu_seconds: 30, warm_pool: true, slots: 2 })
      expect(fromCli.cache).toBe(database)
      expect(fromCli.llm).toMatchObject({ provider: "openai-chat", cache: true })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("an evaluator the caller brings replaces the contract's, and an in-memory database has no cache", () =>
    Effect.gen(function*() {
      const facade = yield* embeddedRun({ ...settings, evaluator: {} }, { evaluator: Layer.succeed(Evaluator, { evaluate: () => Effect.never }), database: ":memory:" })
      const plan = RunServices.plan(facade.spec, facade.services)
      expect(plan.evaluator).toBe("caller's")
      expect(plan.cache).toBeNull()
    }))
})
