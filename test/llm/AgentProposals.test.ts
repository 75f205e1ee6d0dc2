import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as NodePath from "node:path"
import { LlmConfig } from "../../src/domain/RunConfig.js"
import * as AgentProcess from "../../src/evaluate/AgentProcess.js"
import { commandLine } from "../../src/llm/agent/AgentModel.js"
import * as AgentOutput from "../../src/llm/agent/AgentOutput.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { program } from "../support/runFixtures.js"

const FAKE_AGENT = NodePath.resolve(__dirname, "../support/fakeAgent.mjs")

const proposer = (mode: string) =>
  Proposer.layer({ goal: "Make VALUE larger", language: "python", editFormat: "diff", maxCodeBytes: 1 << 20 }).pipe(
    Layer.provide(EmbeddingClient.offline),
    Layer.provide(
      LlmClientLive.layer(
        Schema.decodeUnknownSync(LlmConfig)({ provider: "agent", agent: { command: [process.execPath, FAKE_AGENT, mode] } })
      ).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff, AgentProcess.layer().pipe(Layer.provide(NodeContext.layer))]))
    )
  )

const parent = program({
  id: "p_parent",
  runId: "run_1",
  code: "# outside\n# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\n",
  status: "evaluated",
  score: 0.1,
  metrics: { score: 0.1 }
})

const propose = (mode: string) =>
  Effect.flatMap(Proposer.Proposer, (p) => p.propose({ parent, inspirations: [], recentFailures: [] })).pipe(
    Effect.provide(proposer(mode))
  )

describe("provider agent through the proposer", () => {
  it.live("the agent's edit is the candidate; an edit outside the EVOLVE-BLOCK is a patch failure", () =>
    Effect.gen(function*() {
      const ok = yield* propose("improve")
      expect(ok._tag).toBe("Proposed")
      if (ok._tag === "Proposed") {
        expect(ok.code).toBe("# outside\n# EVOLVE-BLOCK-START\nVALUE = 2\n# EVOLVE-BLOCK-END\n")
        expect(ok.patch).toContain("-VALUE = 1\n+VALUE = 2")
        expect(ok.llm).toMatchObject({ model: "agent", usd: 0.0125 })
      }
      const outside = yield* propose("outside")
      expect(outside).toMatchObject({ _tag: "Failed", kind: "patch" })
      expect(outside._tag === "Failed" && outside.message).toMatch(/^outside_evolve_block:/)
    }))
})

describe("AgentOutput", () => {
  it("reads claude's result, codex's JSON lines, and nothing from plain text", () => {
    expect(AgentOutput.parse(JSON.stringify({
      type: "result",
      is_error: false,
      result: "done",
      usage: { input_tokens: 10, cache_creation_input_tokens: 5, cache_read_input_tokens: 100, output_tokens: 7 },
      total_cost_usd: 0.5
    }))).toEqual({ inputTokens: 115, outputTokens: 7, usd: 0.5, error: undefined, summary: "done" })
    const codex = [
      "{\"type\":\"thread.started\"}",
      "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":100,\"cached_input_tokens\":40,\"output_tokens\":9}}",
      "not json",
      "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":50,\"output_tokens\":1}}"
    ].join("\n")
    expect(AgentOutput.parse(codex)).toMatchObject({ inputTokens: 150, outputTokens: 10, usd: undefined })
    expect(AgentOutput.parse("Edited program.py.\n")).toEqual({
      inputTokens: undefined,
      outputTokens: undefined,
      usd: undefined,
      error: undefined,
      summary: undefined
    })
    expect(AgentOutput.parse("{\"is_error\":true,\"result\":\"Credit balance is too low\"}").error).toBe("Credit balance is too low")
  })
})

describe("the agent's command line", () => {
  it("fills {prompt_file} and {program}; a prompt file no argument names is appended", () => {
    const agent = Schema.decodeUnknownSync(LlmConfig)({ provider: "agent", agent: { command: ["aider", "--message-file", "{prompt_file}", "{program}"], prompt: "file" } }).agent!
    const paths = { promptFile: "/s/prompt.md", program: "/s/work/program.py" }
    expect(commandLine(agent, paths)).toEqual(["aider", "--message-file", "/s/prompt.md", "/s/work/program.py"])
    expect(commandLine({ ...agent, command: ["my-agent", "--file"] }, paths)).toEqual(["my-agent", "--file", "/s/prompt.md"])
    expect(commandLine({ ...agent, command: ["claude", "-p"], prompt: "stdin" }, paths)).toEqual(["claude", "-p"])
  })
})
