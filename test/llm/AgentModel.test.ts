import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { type AgentConfig, LlmConfig } from "../../src/domain/RunConfig.js"
import * as AgentProcess from "../../src/evaluate/AgentProcess.js"
import * as AgentWorkspace from "../../src/llm/agent/AgentWorkspace.js"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import { applyTreeResponse, defaultTreeOptions } from "../../src/propose/TreeEdits.js"
import { LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import { processesWith } from "../support/processFixtures.js"

const hasBwrap = (process.env.PATH ?? "").split(":").some((dir) => NodeFs.existsSync(NodePath.join(dir, "bwrap")))
const FAKE_AGENT = NodePath.resolve(__dirname, "../support/fakeAgent.mjs")
const REQUEST: LlmRequest = { system: "You evolve programs.", user: "Make VALUE larger." }
const PROGRAM = "# outside\n# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\nprint(VALUE)\n"

const agentLlm = (mode: ReadonlyArray<string>, agent: Partial<typeof AgentConfig.Encoded> = {}, llm: Partial<typeof LlmConfig.Encoded> = {}) =>
  LlmClientLive.layer(
    LlmConfig.make({
      provider: "agent",
      agent: {
        command: [process.execPath, FAKE_AGENT, ...mode],
        prompt: "stdin",
        timeout_seconds: 30,
        output_cap_bytes: 1_000_000,
        env: {},
        pass_env: [],
        sandbox: "none",
        ...agent
      },
      ...llm
    } as never)
  ).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff, AgentProcess.layer().pipe(Layer.provide(NodeContext.layer))]))

const propose = (code = PROGRAM, language = "python", extension = ".py") =>
  Effect.flatMap(LlmClient, (llm) => Effect.either(llm.complete(REQUEST))).pipe(
    Effect.locally(AgentWorkspace.currentProgram, Option.some({ code, language, extension }))
  )

describe("provider agent (a command-line coding agent edits a scratch copy of the parent)", () => {
  it.live("the edited file is the answer, fenced; tokens and USD come from the agent's JSON", () =>
    Effect.gen(function*() {
      const reply = Either.getOrThrow(yield* propose().pipe(Effect.provide(agentLlm(["improve"]))))
      expect(reply.text).toContain("```python\n# outside\n# EVOLVE-BLOCK-START\nVALUE = 2\n# EVOLVE-BLOCK-END\nprint(VALUE)\n```")
      expect(reply).toMatchObject({ model: "agent", inputTokens: 1500, outputTokens: 80, usd: 0.0125, attempts: 1 })
    }))

  it.live("prompt in a file ({prompt_file}); plain or garbage output: tokens estimated, USD from the prices", () =>
    Effect.gen(function*() {
      for (const mode of ["plain", "garbage"]) {
        const layer = agentLlm([mode], { prompt: "file", command: [process.execPath, FAKE_AGENT, mode, "{prompt_file}"] }, {
          price_input_per_m: 1,
          price_output_per_m: 1
        })
        const reply = Either.getOrThrow(yield* propose().pipe(Effect.provide(layer)))
        expect(reply.text).toContain("VALUE = 2")
        expect(reply.inputTokens).toBeGreaterThan(50)
        expect(reply.usd).toBeCloseTo((reply.inputTokens + reply.outputTokens) / 1_000_000, 12)
      }
    }))

  it.live("a multi-file program: each changed, new or deleted file is a section of the answer, and the run's file rules decide", () =>
    Effect.gen(function*() {
      const packed = ProgramTree.pack([
        { path: "main.py", content: "from lib.util import VALUE\nprint(VALUE)\n" },
        { path: "lib/util.py", content: "VALUE = 7\n" },
        { path: "old.py", content: "OLD = 1\n" }
      ])
      const reply = Either.getOrThrow(yield* propose(packed).pipe(Effect.provide(agentLlm(["reshape"]))))
      expect(reply.text).toContain(`${ProgramTree.header("lib/util.py")}\n\`\`\`py\nVALUE = 8\n\`\`\``)
      expect(reply.text).toContain(`${ProgramTree.header("extra.py")}\n`)
      expect(reply.text).toContain("=== evolve-delete: old.py ===")
      expect(reply.text).not.toContain(ProgramTree.header("main.py")) // unchanged
      expect(reply.text).not.toContain(".agent") // the agent's own state is not the program
      const options = { format: "diff" as const, maxCodeBytes: 100_000 }
      const allowed = Either.getOrThrow(applyTreeResponse(packed, reply.text, options, { ...defaultTreeOptions, editable: "all", allowNewFiles: true, allowDeleteFiles: true }))
      expect(ProgramTree.unpack(allowed.code).map((f) => f.path)).toEqual(["extra.py", "lib/util.py", "main.py"])
      const refused = Either.flip(applyTreeResponse(packed, reply.text, options, { ...defaultTreeOptions, editable: "all" })).pipe(Either.getOrThrow)
      expect(refused.message).toMatch(/extra\.py.*files\.allow_new_files/)
      const escape = yield* propose(`${ProgramTree.header("../x.py")}\nVALUE = 1\n`).pipe(Effect.provide(agentLlm(["improve"])))
      expect(Either.flip(escape).pipe(Either.getOrThrow).message).toContain("'..' in path")
    }))

  it.live("an agent that edits nothing, crashes, reports an error or is missing: a failed call with the reason", () =>
    Effect.gen(function*() {
      const failure = (layer: ReturnType<typeof agentLlm>) => Effect.map(propose().pipe(Effect.provide(layer)), (r) => Either.flip(r).pipe(Either.getOrThrow))
      const noop = yield* failure(agentLlm(["noop"]))
      expect(noop).toMatchObject({ reason: "empty", attempts: 1 })
      expect(noop.message).toContain("exited without editing the program: Looked at the program")
      const crash = yield* failure(agentLlm(["crash"]))
      expect(crash).toMatchObject({ reason: "server", attempts: 1 })
      expect(crash.message).toContain("exited with code 3: fake agent: segmentation fault")
      const reported = yield* failure(agentLlm(["error"]))
      expect(reported.message).toContain("reported an error: API Error: 401 invalid x-api-key")
      const missing = yield* failure(agentLlm([], { command: ["evolve-no-such-agent-xyz", "-p"] }))
      expect(missing.reason).toBe("bad_request")
      expect(missing.message).toContain("evolve-no-such-agent-xyz")
      // A call that is not a proposal (the novelty judge) has no program to edit.
      const judge = yield* Effect.flatMap(LlmClient, (llm) => Effect.flip(llm.complete(REQUEST))).pipe(Effect.provide(agentLlm(["improve"])))
      expect(judge.message).toContain("answers proposals only")
    }))

  it.live("a hung agent is killed at its time limit with everything it started; a flood at the output cap", () =>
    Effect.gen(function*() {
      const tag = `fake-agent-child-${process.pid}`
      const hang = yield* propose().pipe(Effect.provide(agentLlm(["hang", tag], { timeout_seconds: 1 })))
      expect(Either.flip(hang).pipe(Either.getOrThrow)).toMatchObject({ reason: "timeout" })
      expect(Either.flip(hang).pipe(Either.getOrThrow).message).toContain("llm.agent.timeout_seconds (1 s)")
      expect(processesWith(tag)).toEqual([])
      const flood = yield* propose().pipe(Effect.provide(agentLlm(["flood"], { output_cap_bytes: 100_000 })))
      expect(Either.flip(flood).pipe(Either.getOrThrow).message).toContain("llm.agent.output_cap_bytes (100000) on its stdout")
    }))

  it.live("without a runner in the host, an agent call fails with the reason", () =>
    Effect.gen(function*() {
      const bare = LlmClientLive.layer(
        Schema.decodeUnknownSync(LlmConfig)({ provider: "agent", agent: { command: ["claude", "-p"] } })
      ).pipe(Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff]))
      const failed = Either.flip(yield* propose().pipe(Effect.provide(bare))).pipe(Either.getOrThrow)
      expect(failed.message).toContain("no runner for coding agents")
    }))

  it.live.skipIf(!hasBwrap)("sandbox: bwrap: the agent edits its scratch copy and writes nowhere else", () =>
    Effect.gen(function*() {
      const target = NodePath.join(NodeOs.tmpdir(), `evolve-agent-escape-${process.pid}`)
      const home = NodePath.join(NodeOs.homedir(), `.evolve-agent-escape-${process.pid}`)
      for (const file of [target, home]) {
        const reply = Either.getOrThrow(yield* propose().pipe(Effect.provide(agentLlm(["escape", file], { sandbox: "bwrap" }))))
        expect(reply.text).toContain("VALUE = 2")
        expect(NodeFs.existsSync(file)).toBe(false)
      }
    }))

  it.live("the agent's environment: the allow-list and what llm.agent names, no other keys", () =>
    Effect.gen(function*() {
      process.env.OPENAI_API_KEY = "sk-evolve-own"
      process.env.FAKE_AGENT_KEY = "agent-own"
      process.env.FAKE_OTHER_SECRET = "not-for-agents"
      const layer = agentLlm(["env"], { pass_env: ["FAKE_AGENT_*", "OPENAI_*"], env: { AGENT_MODE: "test" } })
      const reply = Either.getOrThrow(yield* propose().pipe(Effect.provide(layer)))
      const names = /# env: (.*)/.exec(reply.text)![1]!.split(",")
      expect(names).toContain("FAKE_AGENT_KEY")
      expect(names).toContain("AGENT_MODE")
      expect(names).toContain("PATH")
      expect(names).not.toContain("OPENAI_API_KEY")
      expect(names).not.toContain("FAKE_OTHER_SECRET")
    }).pipe(Effect.ensuring(Effect.sync(() => {
      delete process.env.OPENAI_API_KEY
      delete process.env.FAKE_AGENT_KEY
      delete process.env.FAKE_OTHER_SECRET
    }))))
})
