import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Effect, Either, ParseResult, Schema } from "effect"
import * as Yaml from "yaml"
import { ConfigError } from "../domain/Errors.js"
import { RunConfig } from "../domain/RunConfig.js"
import * as OpenEvolveConfig from "./OpenEvolveConfig.js"
import * as ShinkaConfig from "./ShinkaConfig.js"
import { indentQuotedContinuations } from "./QuotedScalars.js"
import { type FlagValue, type ValueType, variables } from "./Overrides.js"

type Raw = Record<string, unknown>

export type { FlagValue }

export interface LoadOptions {
  /** evolve.yaml (or any YAML/JSON file); none means defaults plus overrides. */
  readonly file?: string | undefined
  /** Settings in the evolve.yaml shape taking the file's place (a stored run's, a library call's). */
  readonly base?: Record<string, unknown> | undefined
  readonly env?: Record<string, string | undefined>
  readonly flags?: ReadonlyArray<FlagValue>
  /**
   * The run's evaluator file: when nothing sets `evaluator.contract` and it takes Shinka's
   * `--program_path` / `--results_dir` arguments, the contract is `shinka`.
   */
  readonly evaluator?: string | undefined
  /** List every key of an OpenEvolve file that evolve ignores (else one summary line). */
  readonly verbose?: boolean | undefined
}

const parseEnvValue = (name: string, raw: string, parse: ValueType): Either.Either<unknown, ConfigError> => {
  const fail = (expected: string) =>
    Either.left(new ConfigError({ message: `environment variable ${name}: expected ${expected}, got ${JSON.stringify(raw)}` }))
  switch (parse) {
    case "string":
      return Either.right(raw)
    case "int":
      return /^-?\d+$/.test(raw.trim()) ? Either.right(Number(raw)) : fail("an integer")
    case "number": {
      const n = Number(raw)
      return raw.trim() !== "" && Number.isFinite(n) ? Either.right(n) : fail("a number")
    }
  }
}

const setPath = (target: Raw, path: ReadonlyArray<string>, value: unknown): void => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Raw
  }
  node[path[path.length - 1]!] = value
}

/** YAML aliases expanded at most (an alias bomb expands to gigabytes from a few lines). */
const maxYamlAliases = 100

/**
 * Settings as YAML (or JSON) text: a mapping of config keys. Bigger texts, alias bombs and
 * malformed YAML are ConfigErrors naming `source` (and the line).
 */
export const parseConfigText = (text: string, source: string, options: { readonly file?: string; readonly maxBytes: number }) =>
  Effect.gen(function*() {
    const file = options.file
    const bytes = Buffer.byteLength(text, "utf8")
    if (bytes > options.maxBytes) {
      return yield* new ConfigError({ file, message: `${source}: ${bytes} bytes of settings, more than ${options.maxBytes}` })
    }
    let doc = Yaml.parseDocument(text, { prettyErrors: true })
    if (doc.errors.length > 0) {
      // What PyYAML (OpenEvolve, ShinkaEvolve) accepts: quoted scalars with shallow continuation lines.
      const lenient = Yaml.parseDocument(indentQuotedContinuations(text), { prettyErrors: true })
      if (lenient.errors.length === 0) doc = lenient
    }
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!
      const line = first.linePos?.[0]
      return yield* new ConfigError({
        file,
        message: `${source}${line ? `:${line.line}:${line.col}` : ""}: invalid YAML: ${first.message.split("\n")[0]}`
      })
    }
    const value: unknown = yield* Effect.try({
      try: () => doc.toJS({ maxAliasCount: maxYamlAliases }),
      catch: (e) => new ConfigError({ file, message: `${source}: invalid YAML: ${e instanceof Error ? e.message : String(e)}` })
    })
    if (value === null || value === undefined) return {}
    if (typeof value !== "object" || Array.isArray(value)) {
      return yield* new ConfigError({ file, message: `${source}: expected a mapping of config keys at the top level` })
    }
    return value as Raw
  })

const maxFileBytes = 4 * 1024 * 1024

const readFile = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((e) =>
        new ConfigError({
          file,
          message: `${file}: cannot read config file (${e._tag === "SystemError" ? e.reason : e.message})`
        })
      )
    )
    return yield* parseConfigText(text, file, { file, maxBytes: maxFileBytes })
  })

/**
 * Loads a RunConfig: defaults < file < EVOLVE_* environment < CLI flags, validated once all are
 * applied (a flag may replace a value the file gets wrong). Every problem is a ConfigError naming
 * where the value came from, the key path as written there and what was expected.
 */
export const loadRunConfig = (options: LoadOptions) =>
  Effect.gen(function*() {
    let raw: Raw = options.file ? structuredClone(yield* readFile(options.file)) : structuredClone(options.base ?? {})
    const origins = new Map<string, Origin>()
    if (options.file) {
      const peer = yield* readPeerConfig(raw, options.file, options.verbose === true)
      raw = peer.raw
      for (const [path, origin] of peer.origins) origins.set(path, origin)
    }
    const hints = modelHints(raw, options.file)
    for (const { name, setting } of variables) {
      const value = options.env?.[name]
      if (value === undefined || value === "") continue
      const parsed = yield* parseEnvValue(name, value, setting.type)
      for (const path of setting.paths) {
        setPath(raw, path, parsed)
        origins.set(path.join("."), { source: `environment variable ${name}` })
        if (name !== "OPENAI_BASE_URL") hints.push(...modelHint(path, `environment variable ${name}`))
      }
    }
    for (const flag of options.flags ?? []) {
      setPath(raw, flag.path, flag.value)
      origins.set(flag.path.join("."), { source: `flag --${flag.flag}` })
      hints.push(...modelHint(flag.path, `flag --${flag.flag}`))
    }
    // A model or server named without a provider means that server, never the offline mutator.
    const llm = isRecord(raw.llm) ? raw.llm : undefined
    if (llm?.provider === undefined && hints.length > 0 && options.base === undefined) {
      setPath(raw, ["llm", "provider"], "openai-chat")
      origins.set("llm.provider", { source: `inferred from ${hints[0]}` })
    }
    if (options.evaluator !== undefined && !hasContract(raw)) {
      yield* inferContract(raw, options.evaluator)
    }
    return yield* decodeRunConfig(raw, options.file, origins)
  })

/**
 * A ShinkaEvolve run config (shinka_small.yaml) or an OpenEvolve config.yaml read as evolve's:
 * its keys mapped (and the contract it implies), the rest one summary line on stderr. Any other
 * config is returned as it is.
 */
export const readPeerConfig = (raw: Raw, source: string, verbose: boolean) =>
  Effect.gen(function*() {
    const origins = new Map<string, Origin>()
    if (ShinkaConfig.detect(raw)) {
      const mapped = ShinkaConfig.map(raw)
      yield* Console.error(`evolve: ${source}: read as a ShinkaEvolve config (evaluator.contract: shinka)${ignoredSummary(mapped.ignored, verbose)}`)
      yield* reportMapped(source, mapped, verbose)
      return { raw: mapped.config, origins }
    }
    if (OpenEvolveConfig.detect(raw)) {
      const mapped = OpenEvolveConfig.map(raw)
      yield* Console.error(`evolve: ${source}: read as an OpenEvolve config (evaluator.contract: openevolve)${ignoredSummary(mapped.ignored, verbose)}`)
      yield* reportMapped(source, mapped, verbose)
      for (const [path, key] of mapped.sources) origins.set(path, { source, key })
      return { raw: mapped.config, origins }
    }
    return { raw, origins }
  })

/** True when the config names an evaluator contract. */
export const hasContract = (raw: unknown): boolean => isRecord(raw) && isRecordWith(raw.evaluator, "contract")

const isRecordWith = (value: unknown, key: string) =>
  typeof value === "object" && value !== null && (value as Raw)[key] !== undefined

/** Sets `evaluator.contract: shinka` when the evaluator is a Python file taking Shinka's arguments. */
export const inferContract = (raw: Raw, evaluator: string) =>
  Effect.gen(function*() {
    if (!evaluator.endsWith(".py")) return
    const fs = yield* FileSystem.FileSystem
    const source = yield* fs.readFileString(evaluator).pipe(Effect.orElseSucceed(() => ""))
    if (!ShinkaConfig.takesShinkaArguments(source)) return
    setPath(raw, ["evaluator", "contract"], "shinka")
    yield* Console.error(`evolve: ${evaluator} takes --program_path and --results_dir: evaluator.contract: shinka`)
  })

const isRecord = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

/** A peer config's warnings, and with --verbose every ignored key with its reason. */
const reportMapped = (
  file: string,
  mapped: { readonly ignored: ReadonlyArray<OpenEvolveConfig.Ignored>; readonly warnings: ReadonlyArray<string> },
  verbose: boolean
) =>
  Effect.gen(function*() {
    if (verbose) for (const { key, why } of mapped.ignored) yield* Console.error(`evolve: ${file}: ${key}: ignored (${why})`)
    for (const warning of mapped.warnings) yield* Console.error(`evolve: ${file}: ${warning}`)
  })

/** "; 12 keys ignored (a, b, …; --verbose says why)". */
const ignoredSummary = (ignored: ReadonlyArray<OpenEvolveConfig.Ignored>, verbose: boolean) => {
  if (ignored.length === 0) return ""
  const names = ignored.map((i) => i.key)
  const shown = names.length > 6 ? `${names.slice(0, 6).join(", ")}, …` : names.join(", ")
  return `; ${names.length} key${names.length === 1 ? "" : "s"} with no meaning in evolve ignored (${shown}${verbose ? "" : "; --verbose says why"})`
}

const modelHint = (path: ReadonlyArray<string>, source: string): ReadonlyArray<string> =>
  path.length === 2 && path[0] === "llm" && (path[1] === "model" || path[1] === "base_url") ? [`${source} (llm.${path[1]})`] : []

/** The file's llm.model / llm.base_url / llm.models, each a reason to infer an LLM provider. */
const modelHints = (raw: Raw, file: string | undefined): Array<string> => {
  const llm = isRecord(raw.llm) ? raw.llm : {}
  return ["model", "base_url", "models"].filter((key) => llm[key] !== undefined).map((key) => `${file ?? "config"} (llm.${key})`)
}

/** Where a value came from: a file (with its own key for the path, when it differs), a variable or a flag. */
export interface Origin {
  readonly source: string
  readonly key?: string | undefined
}

/** `source: key: what` for the value at evolve's key `path`, in the words of where it came from. */
const describe = (path: string, file: string | undefined, origins: ReadonlyMap<string, Origin>) => {
  for (let prefix = path; prefix !== ""; prefix = prefix.includes(".") ? prefix.slice(0, prefix.lastIndexOf(".")) : "") {
    const origin = origins.get(prefix)
    if (origin !== undefined) {
      const key = origin.key === undefined ? path : `${origin.key}${path.slice(prefix.length)}`
      return `${origin.source}: ${key}${origin.key === undefined || origin.key === path ? "" : ` (evolve's ${path})`}`
    }
  }
  return `${file ?? "config"}: ${path || "(top level)"}`
}

/** Key paths holding URLs, checked after decoding: they must be absolute http(s) URLs. */
const urlPaths = (config: RunConfig): ReadonlyArray<readonly [string, string | undefined]> => [
  ["llm.base_url", config.llm.base_url],
  ["llm.embedding.base_url", config.llm.embedding?.base_url],
  ...(config.llm.models ?? []).map((m, i) => [`llm.models.${i}.base_url`, m.base_url] as const)
]

const checkUrls = (config: RunConfig, file: string | undefined, origins: ReadonlyMap<string, Origin>) => {
  const problems = urlPaths(config).flatMap(([path, value]) => {
    if (value === undefined) return []
    let ok = false
    try {
      const url = new URL(value)
      ok = (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
    } catch {
      ok = false
    }
    return ok ? [] : [{ path, message: `${describe(path, file, origins)}: expected an http(s) URL, got ${JSON.stringify(value)}` }]
  })
  return problems.length === 0
    ? Effect.succeed(config)
    : Effect.fail(new ConfigError({ file, path: problems[0]!.path, message: problems.map((p) => p.message).join("\n") }))
}

export const decodeRunConfig = (raw: unknown, file?: string, origins: ReadonlyMap<string, Origin> = new Map()) =>
  Schema.decodeUnknown(RunConfig, { onExcessProperty: "error", errors: "all" })(raw).pipe(
    Effect.mapError((error) => {
      // Unions report one issue per alternative: merge them into "expected A | B, got X" per path,
      // dropping the "undefined" alternative every optional key adds.
      const byPath = new Map<string, { path: string; unexpected: boolean; expected: Array<string>; actual?: string; other?: string }>()
      for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
        const path = issue.path.map(String).join(".")
        const entry = byPath.get(path) ?? { path, unexpected: false, expected: [] }
        byPath.set(path, entry)
        const match = /^Expected (.*), actual (.*)$/s.exec(issue.message)
        if (issue._tag === "Unexpected") entry.unexpected = true
        else if (match) {
          if (match[1] !== "undefined") entry.expected.push(match[1]!)
          entry.actual = match[2]!
        } else entry.other ??= issue.message
      }
      const issues = [...byPath.values()].filter((e) => e.unexpected || e.other || e.expected.length > 0)
      // A parent path fails because a child does: report only the deepest paths.
      const leaves = issues.filter((e) => !issues.some((o) => o !== e && e.path !== "" && o.path.startsWith(`${e.path}.`)))
      const lines = leaves.map((e) => {
        const what = e.unexpected
          ? "unknown key"
          : e.other ?? `expected ${e.expected.join(" | ")}, got ${e.actual}`
        return `${describe(e.path, file, origins)}: ${what}`
      })
      return new ConfigError({ file, path: leaves[0]?.path, message: lines.join("\n") })
    }),
    Effect.tap((config) => checkUrls(config, file, origins))
  )
