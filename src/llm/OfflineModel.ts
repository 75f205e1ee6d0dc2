/**
 * The "offline" provider: a deterministic mutator behind @effect/ai's `LanguageModel`, with no
 * network. It reads the current program (the last fenced code block of the last user message),
 * mutates it, and answers with SEARCH/REPLACE blocks that `Edits.applyResponse` applies.
 *
 * Mutations stay inside EVOLVE-BLOCK regions when the program has them. Mostly numeric tuning:
 * a numeric literal is scaled by a log-normal factor (decay-like constants in (0.5, 1) are often
 * tuned through 1 − x instead, integers stay integral, formatting is kept); sometimes constants
 * are copied from an inspiration program's matching line (crossover); rarely `<`/`<=` or
 * binary `+`/`-` flip, or two adjacent simple statements swap.
 *
 * All randomness comes from Effect's `Random` service: the run seeds it, so a run is
 * reproducible. Token usage is estimated as characters / 4.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { Effect, Layer, Stream } from "effect"
import { boldnessOf, META_NOTE_HEADING } from "../domain/AdaptiveMarkers.js"
import * as CodeFences from "../domain/CodeFences.js"
import { languageOf } from "../domain/Languages.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import { pickWeighted } from "./MutationOperators.js"
import { mutate } from "./OfflineMutation.js"

const messageText = (message: Prompt.Message): string => {
  if (typeof message.content === "string") return message.content
  return message.content.map((part) => (part.type === "text" ? part.text : "")).join("\n")
}

const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]!
    if (message.role === "user") return messageText(message)
  }
  return ""
}

/** A meta-note from the request's facts (adaptive search): the offline model summarises nothing more. */
const offlineNote = (userText: string) => {
  const facts = userText.split("## Facts\n")[1]?.split("\n\n")[0] ?? ""
  return ["- Offline meta-note (the offline model only restates the facts):", ...facts.split("\n").filter((l) => l.startsWith("- "))].join("\n")
}

/**
 * The offline model's answer to a user message holding the current program as its last code
 * block. Adaptive search's headings (AdaptiveMarkers) make it bolder: more and wider changes
 * for an exploring island, a jump of every constant for a paradigm shift.
 */
export const respond = (userText: string): Effect.Effect<string> =>
  Effect.gen(function*() {
    if (userText.startsWith(META_NOTE_HEADING)) return offlineNote(userText)
    const blocks = CodeFences.parse(userText).blocks
    const current = blocks[blocks.length - 1]
    if (current === undefined) {
      return "I could not find the current program: the prompt has no fenced code block."
    }
    const inspirations = blocks.slice(0, -1).map((b) => b.code).filter((c) => c.trim() !== "")
    if (ProgramTree.isPacked(current.code)) return yield* respondTree(current.code, current.info, inspirations, boldnessOf(userText))
    const result = yield* mutate(current.code, current.info, inspirations, boldnessOf(userText))
    if (result === null) {
      return "No change proposed: the editable code has no numeric literal or simple statement to mutate."
    }
    return `Offline mutation: ${result.notes.join("; ")}.\n\n${result.blocks.join("\n\n")}\n`
  })

/**
 * A multi-file program: one file, drawn in proportion to its size, is mutated (another when it
 * has nothing to mutate); the blocks go under its file header. Crossover reads the same file of
 * the inspirations.
 */
const respondTree = (code: string, info: string, inspirations: ReadonlyArray<string>, boldness: number) =>
  Effect.gen(function*() {
    let files = ProgramTree.unpack(code)
    const donors = inspirations.filter(ProgramTree.isPacked).map(ProgramTree.unpack)
    while (files.length > 0) {
      const file = yield* pickWeighted(files, (f) => Math.max(1, f.content.length))
      files = files.filter((f) => f !== file)
      const same = donors.flatMap((d) => d.filter((f) => f.path === file.path).map((f) => f.content))
      const result = yield* mutate(file.content.replace(/\n$/, ""), fileLanguage(file.path, info), same, boldness)
      if (result === null) continue
      return `Offline mutation of ${file.path}: ${result.notes.join("; ")}.\n\n${ProgramTree.header(file.path)}\n${result.blocks.join("\n\n")}\n`
    }
    return "No change proposed: no file has a numeric literal or simple statement to mutate."
  })

/** A file's language by its extension, else the program's. */
const fileLanguage = (path: string, fallback: string) => {
  const language = languageOf(path)
  return language === "text" ? fallback : language
}

const promptChars = (prompt: Prompt.Prompt) => prompt.content.reduce((n, m) => n + messageText(m).length, 0)

const usageOf = (prompt: Prompt.Prompt, text: string) => {
  const inputTokens = Math.ceil(promptChars(prompt) / 4)
  const outputTokens = Math.ceil(text.length / 4)
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
}

const generateText = (options: LanguageModel.ProviderOptions) =>
  Effect.map(respond(lastUserText(options.prompt)), (text): Array<Response.PartEncoded> => [
    { type: "text", text },
    { type: "finish", reason: "stop", usage: usageOf(options.prompt, text) }
  ])

const streamText = (options: LanguageModel.ProviderOptions) =>
  Stream.unwrap(
    Effect.map(respond(lastUserText(options.prompt)), (text) =>
      Stream.fromIterable<Response.StreamPartEncoded>([
        { type: "text-start", id: "offline" },
        { type: "text-delta", id: "offline", delta: text },
        { type: "text-end", id: "offline" },
        { type: "finish", reason: "stop", usage: usageOf(options.prompt, text) }
      ]))
  )

/** The offline `LanguageModel` service: deterministic given the `Random` service, no network. */
export const make: Effect.Effect<LanguageModel.Service> = LanguageModel.make({ generateText, streamText })

/** The offline `LanguageModel`: deterministic given the `Random` service, no network. */
export const layer: Layer.Layer<LanguageModel.LanguageModel> = Layer.effect(LanguageModel.LanguageModel, make)
