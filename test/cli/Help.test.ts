import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { evolve } from "../../src/cli/Cli.js"
import { helpFor, width } from "../../src/cli/Help.js"

const command = evolve(() => Effect.void)
const commands = ["run", "resume", "ls", "best", "show", "serve", "generate"]

describe("evolve --help", () => {
  it("is plain text within 100 columns for evolve and every command", () => {
    for (const args of [[], ["--help"], ...commands.map((c) => [c, "--help"]), ["run", "a.py", "-h"]]) {
      const help = helpFor(command, args)!
      expect(help, args.join(" ")).toBeDefined()
      expect(help).not.toMatch(/\x1b/)
      expect(help).not.toMatch(/A user-defined piece of text|A true or false value|This setting is optional|--wizard|^\$ /m)
      for (const line of help.split("\n")) expect(line.length, line).toBeLessThanOrEqual(width)
    }
  })

  it("reads evolve run …, lists every command, and types numeric flags", () => {
    const root = helpFor(command, [])!
    for (const c of commands) expect(root).toMatch(new RegExp(`^  ${c} +\\S`, "m"))
    const run = helpFor(command, ["run", "--help"])!
    expect(run).toMatch(/^Usage: evolve run \[flags\] <program> <evaluator>$/m)
    expect(run).toMatch(/^  -n, --iterations N +stop after this many evaluations/m)
    expect(run).toMatch(/^  --max-seconds SECONDS +wall-clock limit/m)
    expect(run).toMatch(/^  -c, --config FILE +evolve\.yaml/m)
    expect(run).toMatch(/^  --verbose +list every key/m)
    expect(helpFor(command, ["serve", "--help"])).toMatch(/^  --port N +port to listen on \(0: any free port\) \(default: 8765\)$/m)
    expect(helpFor(command, ["run", "a.py", "b.py"])).toBeUndefined()
  })
})
