/**
 * The process of a coding agent (`provider: agent`, src/llm/agent), contained like an
 * evaluator's: bubblewrap when the agent's config asks for it (the network kept: the agent calls
 * its model), else a private pid namespace when this machine allows it; its own process group,
 * a wall-clock timeout (SIGTERM, grace, then SIGKILL of the tree), an output cap, and an
 * environment holding only the allow-list and what the config names. Nothing it starts outlives it.
 */
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Duration, Effect, Layer, Stream } from "effect"
import { type AgentRun, AgentRunner, AgentStartError } from "../llm/agent/AgentRunner.js"
import * as Bubblewrap from "./Bubblewrap.js"
import { runToEnd } from "./CommandProcess.js"
import * as ConfiguredEnv from "./ConfiguredEnv.js"
import * as EvaluatorEnv from "./EvaluatorEnv.js"
import * as FindExecutable from "./FindExecutable.js"
import * as PidNamespace from "./PidNamespace.js"
import * as ProcessTree from "./ProcessTree.js"

export const bwrapMissing =
  "llm.agent.sandbox is \"bwrap\" but bubblewrap is not installed (no `bwrap` on PATH); install it or set llm.agent.sandbox: none"

/** Seconds between the SIGTERM of a timed-out agent and the SIGKILL of its tree. */
const killGrace = Duration.seconds(5)

/**
 * The directories of the command's files under /tmp (the agent's binary or script), which the
 * sandbox's private /tmp would otherwise hide: kept visible, read-only.
 */
const commandDirsUnderTmp = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dirs = new Set<string>()
    for (const arg of argv.filter((a) => a.startsWith("/tmp/"))) {
      const info = yield* fs.stat(arg).pipe(Effect.option)
      if (info._tag === "Some" && info.value.type === "File") dirs.add(path.dirname(arg))
    }
    return [...dirs]
  })

/** A runner of agent processes; the pid namespace probe runs once, at the first run. */
export const make = (isolation: PidNamespace.Isolation = { pidNamespace: true }) =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const tree = yield* ProcessTree.makeProcessTree
    const namespace = yield* Effect.cached(
      isolation.pidNamespace
        ? Effect.flatMap(PidNamespace.probePidNamespace, (probe) =>
          probe._tag === "Available" ? Effect.succeed(probe.namespace) : Effect.as(
            Effect.logWarning(`agent provider: no private pid namespace for the agent (${probe.reason}); its processes are hunted through the process tree instead`),
            undefined
          ))
        : Effect.succeed(undefined)
    )
    const bwrapPath = yield* Effect.cached(FindExecutable.findExecutable("bwrap"))

    const scrubbed = yield* EvaluatorEnv.scrubbedEnv

    const run = (options: AgentRun) =>
      Effect.gen(function*() {
        const bwrap = options.sandbox === "bwrap" ? yield* bwrapPath : undefined
        if (options.sandbox === "bwrap" && bwrap === undefined) return yield* new AgentStartError({ message: bwrapMissing })
        const configured = yield* ConfiguredEnv.fromProcess({
          env: options.env,
          passEnv: options.passEnv,
          protectedNames: options.protectedEnv
        })
        const ns = bwrap === undefined ? yield* namespace : undefined
        const prefix = bwrap !== undefined
          ? Bubblewrap.bwrapPrefix({
            bwrap,
            writable: [options.scratch],
            readable: yield* commandDirsUnderTmp(options.argv).pipe(Effect.provide(context)),
            cwd: options.cwd,
            unsharePid: true,
            network: true
          })
          : ns !== undefined
          ? PidNamespace.namespacePrefix(ns, options.stdin === undefined ? "empty" : "inherit")
          : []
        const [first, ...rest] = [...prefix, ...options.argv]
        const base = Command.make(first!, ...rest).pipe(
          Command.workingDirectory(options.cwd),
          Command.env(
            { ...scrubbed, ...ConfiguredEnv.reveal(configured), ...options.callEnv, EVOLVE_AGENT_SCRATCH: options.scratch },
            { extendEnv: false }
          )
        )
        const command = options.stdin !== undefined
          ? Command.feed(base, options.stdin)
          : Command.stdin(base, ns === undefined ? Stream.empty : "pipe")
        return yield* runToEnd(command, {
          marker: `EVOLVE_AGENT_SCRATCH=${options.scratch}`,
          namespace: ns !== undefined,
          bwrap: bwrap !== undefined,
          timeout: Duration.millis(options.timeoutMs),
          killGrace,
          outputCapBytes: options.outputCapBytes,
          tree
        })
      }).pipe(
        Effect.scoped,
        Effect.catchTag("SystemError", (error) =>
          Effect.fail(new AgentStartError({ message: `could not start \`${options.argv[0]}\` (${error.message}); is it installed and on PATH?` }))),
        Effect.catchTag("BadArgument", (error) => Effect.fail(new AgentStartError({ message: error.message }))),
        Effect.provideService(CommandExecutor.CommandExecutor, executor),
        Effect.provide(context)
      )
    return AgentRunner.of({ run })
  })

/** The live runner of coding agents (needs the platform, e.g. `NodeContext.layer`). */
export const layer = (
  isolation?: PidNamespace.Isolation
): Layer.Layer<AgentRunner, never, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> =>
  Layer.effect(AgentRunner, make(isolation))
