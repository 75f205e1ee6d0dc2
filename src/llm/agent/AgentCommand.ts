/**
 * Whether an agent's command is there to run (the LLM preflight of `provider: agent`): a path
 * names a file, a bare name is looked up on PATH.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"

/** Where `bin` is (absolute), or undefined when there is no such file. */
export const locate = (bin: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const isFile = (candidate: string) =>
      fs.stat(candidate).pipe(Effect.map((info) => info.type === "File"), Effect.orElseSucceed(() => false))
    if (bin.includes("/")) {
      const resolved = path.resolve(bin)
      return (yield* isFile(resolved)) ? resolved : undefined
    }
    for (const dir of (process.env.PATH ?? "").split(":").filter((d) => d !== "")) {
      const candidate = path.join(dir, bin)
      if (yield* isFile(candidate)) return candidate
    }
    return undefined
  })

/** The advice when `bin` is missing: how to get the agents evolve knows. */
export const installHint = (bin: string): string => {
  const name = bin.split("/").at(-1)
  return name === "claude"
    ? " (Claude Code: npm install -g @anthropic-ai/claude-code)"
    : name === "codex"
    ? " (Codex CLI: npm install -g @openai/codex)"
    : name === "aider"
    ? " (aider: pip install aider-chat)"
    : ""
}
