/**
 * `evolve [command] --help`, rendered from the @effect/cli command definitions as plain text
 * (no ANSI escapes, whatever the terminal) within 100 columns. @effect/cli's own help colours
 * everything, prints `$ run …`, a filler sentence per flag and its built-in `--wizard`.
 *
 * It reads the definitions' structure (the descriptor, options and args trees of @effect/cli
 * 0.77, pinned); test/cli/Help.test.ts checks every command's help against it.
 */
import type * as HelpDoc from "@effect/cli/HelpDoc"

/** One flag, argument or subcommand as help shows it. */
interface Entry {
  readonly term: string
  readonly description: string
}

interface CommandHelp {
  readonly name: string
  readonly description: string
  readonly args: ReadonlyArray<Entry>
  readonly flags: ReadonlyArray<Entry>
  readonly commands: ReadonlyArray<CommandHelp>
}

// The shapes of @effect/cli's internal trees this module reads (tags and fields).
type Node = { readonly _tag: string } & Record<string, any>

const spanText = (span: Node): string => {
  switch (span._tag) {
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Text":
    case "Code":
    case "Weak":
    case "Strong":
    case "Error":
    case "URI":
      return typeof span.value === "string" ? span.value : spanText(span.value)
    default:
      return ""
  }
}

/** A HelpDoc as plain paragraphs. */
const docText = (doc: HelpDoc.HelpDoc | Node): string => {
  const node = doc as Node
  switch (node._tag) {
    case "Paragraph":
    case "Header":
      return spanText(node.value)
    case "Sequence":
      return [docText(node.left), docText(node.right)].filter((t) => t !== "").join(" ")
    case "Enumeration":
      return (node.elements as Array<Node>).map(docText).join(" ")
    default:
      return ""
  }
}

/** Placeholders by primitive type when a flag has no pseudo name. */
const typePlaceholder: Record<string, string> = { Integer: "N", Float: "NUMBER", Text: "TEXT", Path: "PATH", Redacted: "TEXT", Secret: "TEXT", DateTime: "DATE" }

const placeholder = (single: Node): string | undefined => {
  const type = single.primitiveType as Node
  if (type._tag === "Bool") return undefined
  if (single.pseudoName?._tag === "Some") return single.pseudoName.value
  if (type._tag === "Choice") return (type.alternatives as Array<[string, unknown]>).map(([choice]) => choice).join("|")
  return typePlaceholder[type._tag] ?? "VALUE"
}

const optionEntries = (options: Node, defaults = ""): Array<Entry> => {
  switch (options._tag) {
    case "Single": {
      const names = [...(options.aliases as Array<string>).map((a) => (a.length === 1 ? `-${a}` : `--${a}`)), options.fullName]
      const value = placeholder(options)
      const description = docText(options.description)
      return [{ term: `${names.join(", ")}${value === undefined ? "" : ` ${value}`}`, description: `${description}${defaults}` }]
    }
    case "Map":
    case "WithFallback":
      return optionEntries(options.options, defaults)
    case "WithDefault": {
      const fallback = options.fallback as unknown
      const shown = typeof fallback === "number" || (typeof fallback === "string" && fallback !== "") ? ` (default: ${fallback})` : ""
      return optionEntries(options.options, shown)
    }
    case "Variadic":
    case "KeyValueMap":
      return optionEntries(options.argumentOption, defaults)
    case "Both":
    case "OrElse":
      return [...optionEntries(options.left), ...optionEntries(options.right)]
    default:
      return []
  }
}

const argEntries = (args: Node, optional = false): Array<Entry> => {
  switch (args._tag) {
    case "Single":
      return [{ term: optional ? `[${args.name}]` : args.name, description: docText(args.description) }]
    case "Map":
    case "WithFallbackConfig":
      return argEntries(args.args, optional)
    case "WithDefault":
      return argEntries(args.args, true)
    case "Variadic":
      return argEntries(args.args, optional).map((e) => ({ ...e, term: `${e.term}...` }))
    case "Both":
      return [...argEntries(args.left, optional), ...argEntries(args.right, optional)]
    default:
      return []
  }
}

const describeCommand = (descriptor: Node): CommandHelp => {
  switch (descriptor._tag) {
    case "Map":
      return describeCommand(descriptor.command)
    case "Subcommands": {
      const parent = describeCommand(descriptor.parent)
      return { ...parent, commands: (descriptor.children as Array<Node>).map(describeCommand) }
    }
    default:
      return {
        name: descriptor.name,
        description: docText(descriptor.description),
        args: descriptor.args === undefined ? [] : argEntries(descriptor.args),
        flags: descriptor.options === undefined ? [] : optionEntries(descriptor.options),
        commands: []
      }
  }
}

export const width = 100

/** `text` wrapped to `width` columns, every line indented by `indent` (the first by `first`). */
const wrap = (text: string, indent: number, first = indent): Array<string> => {
  const lines: Array<string> = []
  let line = " ".repeat(first)
  let empty = true
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line)
      line = " ".repeat(indent)
      empty = true
    }
    line += empty ? word : ` ${word}`
    empty = false
  }
  if (!empty || lines.length === 0) lines.push(line)
  return lines
}

/** Term and description side by side; a long term gets its description on the next line. */
const table = (entries: ReadonlyArray<Entry>): Array<string> => {
  const column = Math.min(32, Math.max(...entries.map((e) => e.term.length)) + 4)
  return entries.flatMap((e) => {
    const term = `  ${e.term}`
    if (term.length + 2 > column) return [term, ...wrap(e.description, column)]
    const [head, ...rest] = wrap(e.description, column, column)
    return [term + head!.slice(term.length), ...rest]
  })
}

const globalFlags: ReadonlyArray<Entry> = [
  { term: "-h, --help", description: "show this help" },
  { term: "--version", description: "print evolve's version" }
]

const render = (path: ReadonlyArray<string>, help: CommandHelp, root: CommandHelp): string => {
  const usage = [
    ...path,
    ...(help.commands.length > 0 ? ["<command>"] : []),
    ...(help.flags.length > 0 ? ["[flags]"] : []),
    ...help.args.map((a) => a.term)
  ].join(" ")
  const flags = path.length === 1 ? [...help.flags, ...globalFlags] : [...help.flags, ...root.flags, globalFlags[0]!]
  return [
    ...wrap(`${path.join(" ")}: ${help.description}`, 2, 0),
    "",
    ...wrap(`Usage: ${usage}`, 4, 0),
    ...(help.commands.length > 0
      ? ["", "Commands:", ...table(help.commands.map((c) => ({ term: c.name, description: c.description })))]
      : []),
    ...(help.args.length > 0 ? ["", "Arguments:", ...table(help.args)] : []),
    "",
    "Flags:",
    ...table(flags),
    ...(help.commands.length > 0 ? ["", `\`${path.join(" ")} <command> --help\` describes a command.`] : [])
  ].join("\n")
}

/**
 * The help that `argv` (without node and the script) asks for, or undefined: no arguments at
 * all, or `--help` / `-h` anywhere (the leading command names choose the command).
 */
export const helpFor = (command: { readonly descriptor: unknown }, argv: ReadonlyArray<string>): string | undefined => {
  if (argv.length > 0 && !argv.includes("--help") && !argv.includes("-h")) return undefined
  const root = describeCommand(command.descriptor as unknown as Node)
  const path = [root.name]
  let help = root
  for (const arg of argv) {
    const sub = help.commands.find((c) => c.name === arg)
    if (sub === undefined) break
    path.push(arg)
    help = sub
  }
  return render(path, help, root)
}
