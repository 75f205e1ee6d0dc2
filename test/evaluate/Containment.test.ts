import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as CandidateTempDirs from "../../src/evaluate/CandidateTempDirs.js"
import * as CommandEvaluator from "../../src/evaluate/CommandEvaluator.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import * as PidNamespace from "../../src/evaluate/PidNamespace.js"
import * as ProcessTree from "../../src/evaluate/ProcessTree.js"
import { processesWith } from "../support/processFixtures.js"

/** The pid of a process that has exited (and been reaped). */
const deadPid = () => {
  const pid = spawnSync("true").pid
  if (pid === undefined || ProcessTree.isAlive(pid)) throw new Error("could not get a dead pid")
  return pid
}

describe("Containment (process tree, pid namespace, temp dirs)", () => {
  describe("temp dirs left by a dead evolve", () => {
    it.scopedLive("sweeps only dirs of dead evolve processes of this pid namespace, owned by this user", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const root = yield* fs.makeTempDirectoryScoped()
        const ns = yield* PidNamespace.pidNamespaceId
        expect(ns).toMatch(/^\d+$/)
        const dead = deadPid()
        const names = {
          dead: `evolve-${dead}-${ns}-p_abc-XYZ123`,
          deadWithFiles: `evolve-${dead}-${ns}-p_def-XYZ456`,
          live: `evolve-${process.pid}-${ns}-p_abc-XYZ789`,
          liveOther: `evolve-1-${ns}-p_abc-XYZ000`,
          otherNamespace: `evolve-${dead}-1234-p_abc-XYZ111`,
          oldStyle: `evolve-p_abc-XYZ222`,
          unrelated: `other-${dead}-${ns}-x`
        }
        for (const name of Object.values(names)) yield* fs.makeDirectory(path.join(root, name))
        yield* fs.makeDirectory(path.join(root, names.deadWithFiles, "results"))
        yield* fs.writeFileString(path.join(root, names.deadWithFiles, "results", "metrics.json"), "{}")
        // a file, not a dir: left alone
        yield* fs.writeFileString(path.join(root, `evolve-${dead}-${ns}-file`), "x")

        const removed = yield* CandidateTempDirs.sweepTempDirs(root, ns)
        expect([...removed].sort()).toEqual([names.dead, names.deadWithFiles].sort())
        expect((yield* fs.readDirectory(root)).sort()).toEqual(
          [names.live, names.liveOther, names.otherNamespace, names.oldStyle, names.unrelated, `evolve-${dead}-${ns}-file`]
            .sort()
        )
        // without a known namespace nothing is judged
        expect(yield* CandidateTempDirs.sweepTempDirs(root, "")).toEqual([])
      }).pipe(Effect.provide(NodeContext.layer)))

    it.scopedLive("building the command evaluator sweeps its temp root; its own dirs carry its pid", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const tempRoot = yield* fs.makeTempDirectoryScoped()
        const ns = yield* PidNamespace.pidNamespaceId
        const stale = `evolve-${deadPid()}-${ns}-p_old-abcdef`
        yield* fs.makeDirectory(path.join(tempRoot, stale, "results"), { recursive: true })
        const outcome = yield* Effect.gen(function*() {
          const evaluator = yield* Evaluator
          return yield* evaluator.evaluate({
            programId: "p-2",
            code: `require("node:fs").writeFileSync(process.env.EVOLVE_RESULTS_DIR + "/metrics.json", '{"score": 1}')`,
            extension: ".cjs"
          })
        }).pipe(
          Effect.provide(CommandEvaluator.layer({
            command: [process.execPath],
            cwd: process.cwd(),
            timeoutMs: 3_000,
            killGraceMs: 200,
            outputCapBytes: 64 * 1024,
            primaryMetric: "score",
            keepArtifacts: true,
            tempRoot
          }).pipe(Layer.provide(NodeContext.layer)))
        )
        expect(outcome._tag).toBe("Scored")
        const left = yield* fs.readDirectory(tempRoot)
        expect(left).toHaveLength(1)
        expect(left[0]).toMatch(new RegExp(`^evolve-${process.pid}-${ns}-p-2-`))
      }).pipe(Effect.provide(NodeContext.layer)))
  })

  describe("pid namespace", () => {
    it.live("the probe finds a working namespace here, with a private /proc when root", () =>
      Effect.gen(function*() {
        const result = yield* PidNamespace.probePidNamespace
        if (result._tag === "Unavailable") {
          // Allowed by design on machines without user namespaces; this CI machine has them.
          expect.fail(`no pid namespace here: ${result.reason}`)
        } else {
          expect(result.namespace.flags.includes("--user")).toBe(process.getuid?.() !== 0)
          if (process.getuid?.() === 0) expect(result.namespace.privateProc).toBe(true)
        }
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("when the process that started it is killed -9, the whole namespace dies (daemons included)", () =>
      Effect.gen(function*() {
        const result = yield* PidNamespace.probePidNamespace
        if (result._tag === "Unavailable") return expect.fail(result.reason)
        const token = `1000.${process.pid}${Math.floor(Math.random() * 1e6)}`
        const argv = [
          ...PidNamespace.namespacePrefix(result.namespace),
          "sh",
          "-c",
          `setsid sleep ${token} </dev/null >/dev/null 2>&1 & sleep ${token}`
        ]
        // A stand-in for evolve: spawns the wrapper, then is killed -9.
        const parent = spawn(process.execPath, [
          "-e",
          `const c = require("node:child_process").spawn(${JSON.stringify(argv[0])}, ${
            JSON.stringify(argv.slice(1))
          }, { stdio: "ignore", detached: true }); console.log(c.pid); setInterval(() => {}, 1000)`
        ], { stdio: ["ignore", "pipe", "inherit"] })
        yield* Effect.addFinalizer(() => Effect.sync(() => parent.kill("SIGKILL")))
        yield* Effect.promise(() => new Promise<void>((resolve) => parent.stdout.once("data", () => resolve())))
        const sleeps = `sleep\u0000${token}`
        for (let i = 0; i < 100 && processesWith(sleeps).length < 2; i++) yield* Effect.sleep("20 millis")
        expect(processesWith(sleeps)).toHaveLength(2)
        parent.kill("SIGKILL")
        for (let i = 0; i < 100 && processesWith(sleeps).length > 0; i++) yield* Effect.sleep("20 millis")
        expect(processesWith(sleeps)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)), { timeout: 10_000 })
  })
})
