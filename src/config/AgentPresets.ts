/**
 * Coding agents evolve knows by name, as `llm.agent` sections (provider agent). OpenEvolve's
 * `llm.provider: claude_code` maps onto `claudeCode`.
 */

/** The variables Claude Code reads its credentials from: the only keys passed to it. */
export const claudeCodeKeys: ReadonlyArray<string> = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]

/** Claude Code's command line, headless: JSON output (usage, cost), file edits accepted without asking. */
export const claudeCodeCommand = (model: string | undefined): Array<string> => [
  "claude",
  "-p",
  "--output-format",
  "json",
  "--permission-mode",
  "acceptEdits",
  ...(model === undefined ? [] : ["--model", model])
]

/** An `llm.agent` section running Claude Code (prompt on stdin). */
export const claudeCode = (model: string | undefined) => ({
  command: claudeCodeCommand(model),
  prompt: "stdin",
  pass_env: [...claudeCodeKeys]
})
