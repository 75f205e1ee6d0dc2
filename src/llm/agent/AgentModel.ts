/**
 * The `agent` provider: a call is a run of a command-line coding agent (`claude -p`, `codex
 * exec`, `aider`, …) in a scratch copy of the proposal's parent (AgentWorkspace), with the
 * prompt on its stdin or in a file; the file it leaves is the answer, sent back as a full
 * rewrite in a fenced block (so the proposer's EVOLVE-BLOCK and size checks apply). The process
 * is started by the host's `AgentRunner` (evaluate/AgentProcess: contained like an evaluator). Tokens and USD come from the agent's
 * JSON output when it prints them (AgentOutput). Every way an agent can go wrong (not
 * installed, crash, hang, output flood, an error it reports, no edit) is an `LlmError` with a
 * reason a person can act on; the proposal records it.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, FiberRef, Option } from "effect"
import { LlmError } from "../../domain/Errors.js"
import type { AgentConfig } from "../../domain/RunConfig.js"
import type { LlmRequest } from "../LlmClient.js"
import * as AgentOutput from "./AgentOutput.js"
import { AgentRunner } from "./AgentRunner.js"
import * as AgentWorkspace from "./AgentWorkspace.js"

/** An agent's answer before accounting (USD undefined: priced from the tokens). */
export interface AgentReply {
  readonly text: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly usd: number | undefined
  readonly finishReason: string
}

export interface AgentModel {
  readonly call: (request: LlmRequest) => Effect.Effect<AgentReply, LlmError>
}

/** Most bytes of a program file the agent may leave (a flood is refused before it is read). */
const MAX_PROGRAM_BYTES = 16 * 1024 * 1024

const tail = (text: string, max = 600): string => {
  const flat = text.trim()
  return flat.length <= max ? flat : `…${flat.slice(-max)}`
}

/** The agent's final words for a failure message: stderr, else stdout. */
const said = (stdout: string, stderr: string): string => {
  const text = tail(stderr) || tail(stdout)
  return text === "" ? "" : `: ${text}`
}

const sameCode = (a: string, b: string) => {
  const norm = (s: string) => s.replace(/\r\n?/g, "\n").split("\n").map((l) => l.replace(/\s+$/, "")).join("\n").replace(/\n+$/, "")
  return norm(a) === norm(b)
}

/** The prompt as the agent gets it: the proposal's prompt, then how to answer as an agent. */
export const agentPrompt = (request: LlmRequest, layout: AgentWorkspace.Layout): string => {
  const where = layout.packed
    ? `The program is the set of files in your current directory (${layout.files.map((f) => `\`${f}\``).join(", ")}).`
    : `The program is the file \`${layout.files[0]}\` in your current directory.`
  return [
    request.system.trim(),
    request.user.trim(),
    "# How to answer",
    `${where} Make the change asked for above by editing it in place with your file tools. ` +
    "When the program has EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers, keep every marker and change only code between them. " +
    (layout.packed
      ? "Create or delete files only when the task above allows it. "
      : "Do not create other files. ") +
    "Do not answer with SEARCH/REPLACE blocks or code in your reply: only the edited files count."
  ].filter((part) => part !== "").join("\n\n") + "\n"
}

/** `command` with `{prompt_file}` and `{program}` replaced; a prompt file no argument names is appended. */
export const commandLine = (
  agent: AgentConfig,
  paths: { readonly promptFile: string; readonly program: string }
): Array<string> => {
  const argv = agent.command.map((arg) => arg.replaceAll("{prompt_file}", paths.promptFile).replaceAll("{program}", paths.program))
  return agent.prompt === "file" && !agent.command.some((arg) => arg.includes("{prompt_file}")) ? [...argv, paths.promptFile] : argv
}

const failure = (reason: LlmError["reason"], message: string) => new LlmError({ reason, message })

/**
 * The agent model of `agent`; `protectedEnv` names variables (evolve's own LLM keys) that a
 * `pass_env` glob must not pass to the agent.
 */
export const make = (
  agent: AgentConfig | undefined,
  protectedEnv: ReadonlyArray<string>
): Effect.Effect<AgentModel> =>
  Effect.gen(function*() {
    if (agent === undefined) {
      return {
        call: () => Effect.fail(failure("bad_request", "provider agent: no llm.agent section (command, prompt, timeout_seconds, …)"))
      }
    }
    const runner = yield* AgentRunner
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const name = agent.command[0]!

    const run = (request: LlmRequest, program: AgentWorkspace.AgentProgram) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const scratch = yield* fs.makeTempDirectoryScoped({ prefix: "evolve-agent-" })
        const layout = yield* AgentWorkspace.prepare(scratch, program)
        const prompt = agentPrompt(request, layout)
        const promptFile = path.join(scratch, "prompt.md")
        if (agent.prompt === "file") yield* fs.writeFileString(promptFile, prompt)
        const [bin, ...args] = commandLine(agent, { promptFile, program: layout.programPath })
        // The agent runs in the scratch dir: a relative command path is the working directory's.
        const argv = [bin!.includes("/") ? path.resolve(bin!) : bin!, ...args]
        const result = yield* runner.run({
          argv,
          cwd: layout.workDir,
          scratch,
          env: agent.env,
          passEnv: agent.pass_env,
          protectedEnv,
          callEnv: { EVOLVE_PROGRAM: layout.programPath, ...(agent.prompt === "file" ? { EVOLVE_PROMPT_FILE: promptFile } : {}) },
          stdin: agent.prompt === "stdin" ? prompt : undefined,
          timeoutMs: agent.timeout_seconds * 1000,
          outputCapBytes: agent.output_cap_bytes,
          sandbox: agent.sandbox
        }).pipe(Effect.mapError((error) => failure("bad_request", `agent \`${name}\`: ${error.message}`)))
        const { ending, stdout, stderr } = result
        switch (ending._tag) {
          case "TimedOut":
            return yield* failure("timeout", `the agent \`${name}\` ran past llm.agent.timeout_seconds (${agent.timeout_seconds} s) and was killed`)
          case "OutputLimit":
            return yield* failure(
              "malformed",
              `the agent \`${name}\` wrote more than llm.agent.output_cap_bytes (${agent.output_cap_bytes}) on its ${ending.stream} and was killed`
            )
          case "Signaled":
            return yield* failure("server", `the agent \`${name}\` was killed by ${ending.signal}${said(stdout, stderr)}`)
          case "Exited":
            if (ending.code === 127 && /not found|No such file/i.test(stderr)) {
              return yield* failure("bad_request", `the agent \`${name}\` could not be started${said("", stderr)}`)
            }
            if (ending.code !== 0) return yield* failure("server", `the agent \`${name}\` exited with code ${ending.code}${said(stdout, stderr)}`)
        }
        const report = AgentOutput.parse(stdout)
        if (report.error !== undefined) return yield* failure("server", `the agent \`${name}\` reported an error: ${tail(report.error)}`)
        const edit = yield* AgentWorkspace.collect(layout, program, MAX_PROGRAM_BYTES).pipe(
          Effect.mapError((error) => failure("malformed", error.message))
        )
        if (edit.answer === "" || sameCode(edit.code, program.code)) {
          return yield* failure("empty", `the agent \`${name}\` exited without editing the program${said(report.summary ?? stdout, "")}`)
        }
        const reply: AgentReply = {
          text: `Edited by the agent \`${name}\`.\n\n${edit.answer}\n`,
          // Without figures from the agent: the prompt it got, and what it printed and wrote, at 4 characters a token.
          inputTokens: report.inputTokens ?? Math.ceil(prompt.length / 4),
          outputTokens: report.outputTokens ?? Math.ceil((stdout.length + edit.answer.length) / 4),
          usd: report.usd,
          finishReason: "stop"
        }
        return reply
      }).pipe(
        Effect.scoped,
        Effect.catchTag("WorkspaceError", (error) => Effect.fail(failure("bad_request", error.message))),
        Effect.catchTag("SystemError", (error) => Effect.fail(failure("bad_request", `agent scratch dir: ${error.message}`))),
        Effect.catchTag("BadArgument", (error) => Effect.fail(failure("bad_request", `agent scratch dir: ${error.message}`))),
        Effect.provide(context)
      )

    const model: AgentModel = {
      call: (request) =>
        Effect.flatMap(FiberRef.get(AgentWorkspace.currentProgram), (program) =>
          Option.isNone(program)
            ? Effect.fail(failure("bad_request", "provider agent answers proposals only (it edits a program); this call had no program"))
            : run(request, program.value))
    }
    return model
  }).pipe(Effect.provide(NodeContext.layer))
