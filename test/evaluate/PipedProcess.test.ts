import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as PipedProcess from "../../src/evaluate/PipedProcess.js"

const cwd = mkdtempSync(join(tmpdir(), "evolve-piped-"))
const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }

/** Spawns `script` under `sh -c`, collecting what its pipes say. */
const run = (script: string) =>
  Effect.gen(function*() {
    const out = { stdout: "", stderr: "", ends: 0 }
    const ended = yield* Deferred.make<void>()
    const proc = yield* PipedProcess.spawn(["sh", "-c", script], { cwd, env }, {
      stdout: (text) => void (out.stdout += text),
      stdoutEnd: () => {
        out.ends++
        Deferred.unsafeDone(ended, Effect.void)
      },
      stderr: (text) => void (out.stderr += text)
    })
    return { proc, out, ended: Deferred.await(ended) }
  })

describe("PipedProcess", () => {
  it.scopedLive("speaks through its pipes: stdin in, stdout and stderr out, then how it ended", () =>
    Effect.gen(function*() {
      const { ended, out, proc } = yield* run("read line; echo \"got $line\"; echo oops >&2; exit 3")
      proc.write("hello\n")
      yield* ended
      expect(yield* proc.exit).toBe("exit code 3")
      expect(out).toEqual({ stdout: "got hello\n", stderr: "oops\n", ends: 1 })
      proc.write("after its end\n") // dropped, without an error
    }))

  it.scopedLive("hands over a character split across two reads whole", () =>
    Effect.gen(function*() {
      // "é" is two bytes: the first one, a pause, then the second.
      const { ended, out, proc } = yield* run("printf '\\303'; sleep 0.2; printf '\\251\\n'")
      yield* ended
      expect(out.stdout).toBe("é\n")
      expect(yield* proc.exit).toBe("exit code 0")
    }))

  it.scopedLive("names the signal that ended it", () =>
    Effect.gen(function*() {
      const { proc } = yield* run("kill -KILL $$")
      expect(yield* proc.exit).toBe("SIGKILL")
    }))

  it.scopedLive("runs in a process group of its own, ended when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { out, proc } = yield* Scope.extend(run("cut -d' ' -f5 /proc/$$/stat; sleep 30"), scope)
      while (out.stdout === "") yield* Effect.sleep("10 millis")
      expect(Number(out.stdout.trim())).toBe(proc.pid)
      yield* Scope.close(scope, Exit.void)
      expect(yield* proc.exit).toBe("SIGTERM")
    }))

  it.scopedLive("fails to spawn with the reason: a missing program, a directory that cannot be entered", () =>
    Effect.gen(function*() {
      const listeners = { stdout: () => undefined, stdoutEnd: () => undefined, stderr: () => undefined }
      const missing = yield* Effect.flip(PipedProcess.spawn(["/nonexistent/python9"], { cwd, env }, listeners))
      expect(missing.message).toMatch(/ENOENT/)
      const noDir = yield* Effect.flip(PipedProcess.spawn(["sh", "-c", "true"], { cwd: join(cwd, "gone"), env }, listeners))
      expect(noDir.message).toBe(`its working directory ${join(cwd, "gone")} cannot be entered`)
    }))
})
