/**
 * `evolve generate --models a,b,c --prompt FILE [--validate-symbol NAME] --out DIR`: one prompt
 * to several models at once (llmBatch), one file per model in DIR (the reply's longest fenced
 * code block, else the whole reply), `summary.json`, and a summary table on stdout.
 *
 * Models inherit the `llm` section of the config (evolve.yaml, `--config`, `EVOLVE_*` env,
 * `--provider` / `--base-url`); a name matching an `llm.models` entry uses that entry.
 * Exit code 0 when at least one model produced a valid answer, 1 otherwise, 2 for bad input.
 * The heavy modules (HTTP client, LLM layer) load only when the command runs.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const textFlag = (name: string, description: string, value: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.withPseudoName(value), Options.optional)

export interface GenerateArgs {
  readonly models: string
  readonly prompt: string
  readonly out: string
  readonly system: Option.Option<string>
  readonly validateSymbol: Option.Option<string>
  readonly config: Option.Option<string>
  readonly provider: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly timeout: Option.Option<number>
  readonly concurrency: Option.Option<number>
  readonly temperature: Option.Option<number>
}

export const generate = Command.make(
  "generate",
  {
    models: Options.text("models").pipe(Options.withDescription("comma-separated model names, e.g. gpt-4o-mini,llama3.1:8b"), Options.withPseudoName("NAMES")),
    prompt: Options.text("prompt").pipe(Options.withDescription("file holding the prompt (the user message)"), Options.withPseudoName("FILE")),
    out: Options.text("out").pipe(Options.withDescription("directory for one output file per model and summary.json"), Options.withPseudoName("DIR")),
    system: textFlag("system", "file holding a system prompt", "FILE"),
    validateSymbol: textFlag("validate-symbol", "a reply must define this function / class / value (e.g. execute_trade)", "NAME"),
    config: textFlag("config", "evolve.yaml whose llm section supplies base_url, api_key_env, prices… (default: ./evolve.yaml)", "FILE")
      .pipe(Options.withAlias("c")),
    provider: textFlag("provider", "LLM provider: openai-chat (default), openai-responses, offline", "NAME"),
    baseUrl: textFlag("base-url", "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1", "URL"),
    timeout: Options.float("timeout").pipe(Options.withDescription("per-model time limit in seconds"), Options.withPseudoName("SECONDS"), Options.optional),
    concurrency: Options.integer("concurrency").pipe(Options.withDescription("models queried at once (default: all)"), Options.optional),
    temperature: Options.float("temperature").pipe(Options.withDescription("sampling temperature for every model"), Options.optional)
  },
  (args) => runGenerate(args)
).pipe(Command.withDescription("send one prompt to several models at once; write one file per model and a summary table"))

// ---- the handler ------------------------------------------------------------------------------

const EXTENSIONS: Record<string, string> = {
  python: "py", py: "py", python3: "py", javascript: "js", js: "js", mjs: "mjs", typescript: "ts", ts: "ts",
  rust: "rs", rs: "rs", go: "go", golang: "go", c: "c", cpp: "cpp", "c++": "cpp", java: "java", ruby: "rb",
  julia: "jl", bash: "sh", sh: "sh", sql: "sql", lua: "lua", kotlin: "kt", swift: "swift", r: "r", json: "json"
}

/** A file name for a model: its name with anything outside [A-Za-z0-9._-] replaced by "_". */
export const fileStem = (model: string): string => model.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_")

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length))

export const runGenerate = (args: GenerateArgs) =>
  Effect.gen(function*() {
    const [ConfigLoader, Overrides, Errors, LlmBatch, LlmClientLive, LlmCache, CliExit] = yield* Effect
      .promise(() =>
        Promise.all([
          import("../config/ConfigLoader.js"),
          import("../config/Overrides.js"),
          import("../domain/Errors.js"),
          import("../llm/LlmBatch.js"),
          import("../llm/LlmClientLive.js"),
          import("../llm/LlmCache.js"),
          import("./CliExit.js")
        ])
      )
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const bad = (message: string) => new Errors.ConfigError({ message })

    const names = args.models.split(",").map((m) => m.trim()).filter((m) => m.length > 0)
    if (names.length === 0) return yield* bad("--models: expected a comma-separated list of model names")
    const prompt = yield* fs.readFileString(args.prompt).pipe(Effect.mapError((e) => bad(`--prompt ${args.prompt}: ${e.message}`)))
    const system = Option.isSome(args.system)
      ? yield* fs.readFileString(args.system.value).pipe(Effect.mapError((e) => bad(`--system ${args.system}: ${e.message}`)))
      : undefined

    const file = Option.isSome(args.config)
      ? args.config.value
      : (yield* fs.exists("evolve.yaml").pipe(Effect.orElseSucceed(() => false)))
      ? "evolve.yaml"
      : undefined
    const flags = [
      ...Option.toArray(args.provider).flatMap((value) => Overrides.flagValues("provider", value)),
      ...Option.toArray(args.baseUrl).flatMap((value) => Overrides.flagValues("baseUrl", value)),
      ...Option.toArray(args.temperature).flatMap((value) => Overrides.flagValues("temperature", value))
    ]
    // Without a file or --provider, generate talks to an OpenAI-compatible server (not the offline mutator).
    const defaults = file === undefined && Option.isNone(args.provider) ? Overrides.flagValues("provider", "openai-chat") : []
    const loaded = yield* ConfigLoader.loadRunConfig({ file, env: yield* Overrides.environment, flags: [...defaults, ...flags] })
    const base = loaded.llm
    const entries = names.map((name) =>
      base.models?.find((m) => (m.name ?? m.model) === name) ?? { model: name }
    )
    const llm = { ...base, models: entries, selection: "weighted" as const }
    const apiKey = yield* Config.option(Config.redacted(base.api_key_env)).pipe(
      Effect.mapError(() => bad(`environment variable ${base.api_key_env} is invalid`))
    )
    yield* fs.makeDirectory(args.out, { recursive: true }).pipe(Effect.mapError((e) => bad(`--out ${args.out}: ${e.message}`)))

    const validate = Option.isSome(args.validateSymbol) ? LlmBatch.requireSymbol(args.validateSymbol.value) : undefined
    const requests = names.map((model) => ({ prompt, system, model }))
    const results = yield* LlmBatch.runBatch(requests, {
      concurrency: Option.getOrElse(args.concurrency, () => names.length),
      ...(Option.isSome(args.timeout) ? { timeout: `${args.timeout.value} seconds` as const } : {}),
      validate,
      onProgress: (e) =>
        e._tag === "Succeeded"
          ? Console.error(`  ${e.result.model}: ok (${(e.result.reply.latencyMs / 1000).toFixed(1)} s)`)
          : e._tag === "Failed"
          ? Console.error(`  ${e.result.model ?? "?"}: ${e.result.reason}: ${e.result.message}`)
          : e._tag === "Retried"
          ? Console.error(`  ${e.model}: retry ${e.attempt} after ${e.reason} (${Math.round(e.delayMs)} ms)`)
          : Effect.void
    }).pipe(Effect.provide(LlmClientLive.layerNode(llm, apiKey).pipe(Layer.provide(LlmCache.LlmCache.disabled))))

    const rows: Array<Record<string, unknown>> = []
    for (const r of results) {
      const model = names[r.index]!
      const reply = r._tag === "Success" ? r.reply : r.reply
      let written: string | null = null
      if (reply !== undefined) {
        const { code, language } = LlmBatch.extractCode(reply.text)
        const ext = code === reply.text ? "md" : (EXTENSIONS[language] ?? "txt")
        written = path.join(args.out, `${fileStem(model)}${r._tag === "Success" ? "" : ".invalid"}.${ext}`)
        yield* fs.writeFileString(written, code.endsWith("\n") ? code : `${code}\n`).pipe(
          Effect.mapError((e) => bad(`cannot write ${written}: ${e.message}`))
        )
      }
      rows.push({
        model,
        status: r._tag === "Success" ? "ok" : r.reason,
        file: written,
        message: r._tag === "Failure" ? r.message : null,
        latencyMs: reply?.latencyMs ?? (r._tag === "Failure" ? r.latencyMs : null),
        attempts: reply?.attempts ?? (r._tag === "Failure" ? r.attempts : null),
        inputTokens: reply?.inputTokens ?? 0,
        outputTokens: reply?.outputTokens ?? 0,
        usd: reply?.usd ?? 0
      })
    }
    yield* fs.writeFileString(path.join(args.out, "summary.json"), `${JSON.stringify(rows, null, 2)}\n`).pipe(
      Effect.mapError((e) => bad(`cannot write summary.json: ${e.message}`))
    )

    const width = Math.max(5, ...names.map((n) => n.length))
    const lines = [
      `${pad("model", width)}  ${pad("status", 14)}  ${pad("time", 7)}  ${pad("tokens in/out", 14)}  ${pad("USD", 9)}  file / reason`
    ]
    for (const row of rows) {
      lines.push(
        `${pad(String(row["model"]), width)}  ${pad(String(row["status"]), 14)}  ${
          pad(row["latencyMs"] === null ? "—" : `${(Number(row["latencyMs"]) / 1000).toFixed(1)} s`, 7)
        }  ${pad(`${row["inputTokens"]}/${row["outputTokens"]}`, 14)}  ${pad(`$${Number(row["usd"]).toFixed(4)}`, 9)}  ${
          row["status"] === "ok" ? row["file"] : `${row["message"] ?? ""}${row["file"] ? ` (${row["file"]})` : ""}`
        }`
      )
    }
    const ok = rows.filter((r) => r["status"] === "ok").length
    const usd = rows.reduce((n, r) => n + Number(r["usd"]), 0)
    lines.push(`${ok}/${rows.length} models answered${validate ? ` with ${Option.getOrElse(args.validateSymbol, () => "")}` : ""}, $${usd.toFixed(4)} in total; files in ${args.out}`)
    yield* Console.log(lines.join("\n"))
    if (ok === 0) return yield* new CliExit.CliExit({ code: 1 })
  })
