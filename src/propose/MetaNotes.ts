/**
 * Meta-notes (issue 17): every `search.meta_note_every` evaluations one LLM call reads what
 * changed in the programs that raised the best score and what kept failing, and writes a short
 * note that later prompts carry. This file builds that request and cleans the answer.
 */
import { META_NOTE_HEADING } from "../domain/AdaptiveMarkers.js"

export interface MetaNoteFacts {
  readonly goal: string
  readonly guidance: string
  readonly evaluations: number
  /** Programs that raised the best score, oldest first, with the change that did it. */
  readonly improvements: ReadonlyArray<{ readonly score: number; readonly island: number; readonly change: string }>
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly recentFailures: ReadonlyArray<{ readonly kind: string; readonly message: string }>
  /** One line per island: its best and whether it is stalled. */
  readonly islands: ReadonlyArray<string>
  /** The previous note ("" for none). */
  readonly previous: string
}

/** Characters of a note kept (and of each change quoted in the request). */
export const NOTE_CHARS = 1200
const CHANGE_CHARS = 600

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`)
/** Quoted, with code fences defused: the request holds no code block. */
const quote = (text: string, max: number) =>
  clip(text.replace(/`{3,}|~{3,}/g, "'''").trim(), max).split("\n").map((l) => `> ${l}`).join("\n")
const num = (x: number) => String(Number(x.toPrecision(6)))

export const metaNoteSystem = "You review an automatic evolutionary search over programs and write short, concrete notes " +
  "that guide its next proposals. Answer with at most 8 bullet lines (\"- \"), no code."

export const metaNotePrompt = (f: MetaNoteFacts): { readonly system: string; readonly user: string } => {
  const failures = Object.entries(f.failuresByKind).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
  const lines = [
    `${META_NOTE_HEADING} after ${f.evaluations} evaluations`,
    `Goal: ${f.goal.trim()}`,
    ...(f.guidance.trim() === "" ? [] : [`Guidance from the user:\n${f.guidance.trim()}`]),
    "",
    "## Facts",
    `- ${f.improvements.length} recent changes raised the best score${
      f.improvements.length > 0 ? ` (now ${num(f.improvements.at(-1)!.score)})` : ""
    }`,
    `- failures so far: ${failures.length === 0 ? "none" : failures.map(([k, n]) => `${k} ${n}`).join(", ")}`,
    ...f.islands.map((l) => `- ${l}`),
    "",
    "## Changes that raised the best score (oldest first)",
    ...(f.improvements.length === 0
      ? ["(none yet)"]
      : f.improvements.map((i) => `Score ${num(i.score)} on island ${i.island}:\n${quote(i.change, CHANGE_CHARS)}`)),
    "",
    "## Recent failures",
    ...(f.recentFailures.length === 0 ? ["(none)"] : f.recentFailures.map((r) => `- [${r.kind}] ${clip(r.message.replace(/\s+/g, " "), 200)}`)),
    ...(f.previous.trim() === "" ? [] : ["", "## Your previous note", quote(f.previous, NOTE_CHARS)]),
    "",
    "Write the new note: which kinds of change worked, which kept failing and should be avoided, and what to try next."
  ]
  return { system: metaNoteSystem, user: lines.join("\n") }
}

/** The note kept from a reply: fences defused, blank lines dropped, clipped. */
export const cleanNote = (reply: string): string =>
  clip(
    reply.replace(/`{3,}|~{3,}/g, "'''").split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "").join("\n"),
    NOTE_CHARS
  )
