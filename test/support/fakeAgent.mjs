#!/usr/bin/env node
// A stand-in for a command-line coding agent (`claude -p`, `codex exec`, aider) in tests of
// provider: agent. It reads its prompt (stdin, or the file EVOLVE_PROMPT_FILE names), then acts
// by its first argument:
//   improve  raise the integer of every `VALUE = <n>` line of the files in its cwd by one and
//            print a claude-style JSON result with usage and total_cost_usd
//   plain    the same edit, printing plain text (no usage)
//   garbage  the same edit, printing bytes that are no JSON
//   noop     print a message and edit nothing
//   crash    print to stderr and exit 3
//   hang     start a child that sleeps (its command line holds the second argument), never exit
//   flood    print without end
//   error    print a claude-style JSON result with is_error: true
//   env      append a comment listing its environment's variable names to the program
//   outside  change a line outside the EVOLVE-BLOCK region
//   escape   try to write the file named by the second argument, then edit like improve
//   reshape  edit like improve, add extra.py, delete old.py, and leave its own state in .agent/
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const mode = process.argv[2] ?? "improve"

const readPrompt = () => {
  if (process.env.EVOLVE_PROMPT_FILE) return fs.readFileSync(process.env.EVOLVE_PROMPT_FILE, "utf8")
  try {
    return fs.readFileSync(0, "utf8")
  } catch {
    return ""
  }
}

const files = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]
  )

const edit = (f) => {
  for (const file of files(process.cwd())) {
    const text = fs.readFileSync(file, "utf8")
    const next = f(text)
    if (next !== text) fs.writeFileSync(file, next)
  }
}

const raise = () => edit((text) => text.replace(/^(\s*VALUE = )(\d+)/gm, (_, head, n) => `${head}${Number(n) + 1}`))

const prompt = readPrompt()
if (!prompt.includes("# How to answer")) {
  process.stderr.write("fake agent: no prompt received\n")
  process.exit(4)
}

switch (mode) {
  case "improve":
    raise()
    process.stdout.write(JSON.stringify({
      type: "result",
      subtype: "success",
      is_error: false,
      result: "Raised VALUE by one.",
      usage: { input_tokens: 1200, cache_read_input_tokens: 300, output_tokens: 80 },
      total_cost_usd: 0.0125
    }) + "\n")
    break
  case "reshape":
    raise()
    fs.writeFileSync("extra.py", "EXTRA = 1\n")
    fs.rmSync("old.py", { force: true })
    fs.mkdirSync(".agent", { recursive: true })
    fs.writeFileSync(".agent/history.md", "did things\n")
    process.stdout.write("Reshaped the package.\n")
    break
  case "plain":
    raise()
    process.stdout.write("I raised VALUE.\n")
    break
  case "garbage":
    raise()
    process.stdout.write("{{{ \u0001\u0002 not json ]]]\n{\"usage\": 12}\n")
    break
  case "noop":
    process.stdout.write("Looked at the program; it is fine as it is.\n")
    break
  case "crash":
    process.stderr.write("fake agent: segmentation fault (pretend)\n")
    process.exit(3)
    break
  case "hang": {
    // The child carries the second argument in its command line, for the test to look for.
    spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", process.argv[3] ?? "fake-agent-child"], { stdio: "ignore" })
    setInterval(() => {}, 1000)
    break
  }
  case "flood": {
    const chunk = "x".repeat(64 * 1024)
    const write = () => {
      while (process.stdout.write(chunk)) {}
      process.stdout.once("drain", write)
    }
    write()
    break
  }
  case "error":
    process.stdout.write(JSON.stringify({ type: "result", is_error: true, result: "API Error: 401 invalid x-api-key" }) + "\n")
    break
  case "env":
    edit((text) => `${text.replace(/\n?$/, "\n")}# env: ${Object.keys(process.env).sort().join(",")}\n`)
    break
  case "escape":
    try {
      fs.writeFileSync(process.argv[3], "escaped\n")
    } catch {
      // A sandbox said no.
    }
    raise()
    break
  case "outside":
    edit((text) => text.replace("# outside", "# outside, changed"))
    break
  default:
    process.stderr.write(`fake agent: unknown mode ${mode}\n`)
    process.exit(5)
}
