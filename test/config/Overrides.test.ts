import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { loadRunConfig } from "../../src/config/ConfigLoader.js"
import * as Overrides from "../../src/config/Overrides.js"

describe("the settings table", () => {
  it.effect("reads its variables through Effect's Config, and only those", () =>
    Effect.gen(function*() {
      const env = yield* Overrides.environment.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
          ["EVOLVE_PARALLEL", "3"],
          ["OPENAI_BASE_URL", "http://127.0.0.1:9/v1"],
          ["EVOLVE_TOKEN", "not-a-setting"]
        ])))
      )
      expect(env["EVOLVE_PARALLEL"]).toBe("3")
      expect(env["OPENAI_BASE_URL"]).toBe("http://127.0.0.1:9/v1")
      expect(env["EVOLVE_ITERATIONS"]).toBeUndefined()
      expect("EVOLVE_TOKEN" in env).toBe(false)
    }))

  it.effect("drives the flags and the variables alike: --parallel then --llm-concurrency, EVOLVE_PARALLEL then EVOLVE_LLM_CONCURRENCY", () =>
    Effect.gen(function*() {
      const flags = [...Overrides.flagValues("parallel", 4), ...Overrides.flagValues("llmConcurrency", 7)]
      expect(flags.map((f) => `--${f.flag} ${f.path.join(".")}`)).toEqual([
        "--parallel concurrency.proposals",
        "--parallel concurrency.evaluations",
        "--llm-concurrency concurrency.proposals"
      ])
      const fromFlags = yield* loadRunConfig({ flags })
      expect(fromFlags.concurrency).toMatchObject({ proposals: 7, evaluations: 4 })
      const fromEnv = yield* loadRunConfig({ env: { EVOLVE_LLM_CONCURRENCY: "7", EVOLVE_PARALLEL: "4" } })
      expect(fromEnv.concurrency).toMatchObject({ proposals: 7, evaluations: 4 })
      const order = Overrides.variables.map((v) => v.name)
      expect(order.indexOf("EVOLVE_PARALLEL")).toBeLessThan(order.indexOf("EVOLVE_LLM_CONCURRENCY"))
      const db = yield* loadRunConfig({ env: { EVOLVE_DB: "/tmp/x.db" }, flags: Overrides.flagValues("db", "/tmp/y.db") })
      expect(db.database.path).toBe("/tmp/y.db")
    }).pipe(Effect.provide(NodeContext.layer)))
})
