/**
 * Prompt building: a system prompt with the task and the exact edit format, and a compact user
 * prompt (goal, results, weakness analysis, inspirations, retry feedback, then the current
 * program and the instruction). The current program is always the LAST fenced code block of
 * the user message: the offline model and the test server find it that way, and a custom
 * template that breaks this rule gets the program appended.
 *
 * Templates (`prompt.system_template[_file]`, `prompt.user_template[_file]`) use
 * `{{placeholder}}`s, substituted in one pass (text inside values is never re-expanded):
 * goal, guidance (a person's hints, issue 17), language, edit_rules, required_symbols, results,
 * weaknesses, inspirations, retry, current_program, instruction, task, notes and search_status
 * (adaptive search's meta-note and stall / paradigm-shift section, issue 17).
 */
import { isPacked } from "../domain/ProgramTree.js"
import { defaultTreeOptions } from "./TreeEdits.js"
import { editableText, lastChangeSection, projectSection, treeRules, type TreePromptOptions } from "./TreePrompt.js"
import { fencedBlocks } from "./Edits.js"
import { type AdaptiveInput, notesSection, shiftInstruction, statusSection } from "./SearchStatus.js"

export type PromptMode = "exploit" | "explore" | "pareto" | "fix"

export interface PromptLimits {
  /** Recent failures listed. */
  readonly failures: number
  /** Characters per failure message. */
  readonly failureChars: number
  /** Tail of evaluator feedback (stderr, text feedback) kept. */
  readonly feedbackChars: number
  /** The whole weakness section. */
  readonly weaknessChars: number
  readonly inspirations: number
  readonly inspirationChars: number
  readonly metrics: number
  /** The previous answer quoted back on a retry. */
  readonly retryAnswerChars: number
}

/** Caps keeping prompts compact (the defaults of `prompt.max_*`). */
export const promptLimits: PromptLimits = {
  failures: 5,
  failureChars: 300,
  feedbackChars: 1500,
  weaknessChars: 4000,
  inspirations: 6,
  inspirationChars: 4000,
  metrics: 12,
  retryAnswerChars: 2000
}

export interface PromptInput {
  readonly goal: string
  /** A person's guidance for the run (lines of hints), shown right under the goal. */
  readonly guidance?: string | undefined
  /** e.g. "javascript", "python" (also used as the code fence's info string). */
  readonly language: string
  readonly editFormat: "diff" | "full"
  readonly parent: {
    readonly code: string
    readonly metrics: Record<string, number> | null
    readonly score: number | null
    readonly feedback: string | null
    /** Set when the parent failed (fix mode): its error. */
    readonly failure?: { readonly kind: string; readonly message: string } | null | undefined
    /** Its change against its own parent (shown for multi-file programs). */
    readonly patch?: string | null | undefined
  }
  readonly inspirations: ReadonlyArray<{
    readonly code: string
    readonly score: number
    readonly metrics: Record<string, number>
    /** e.g. "top", "migrant from island 2", "other cell" */
    readonly label?: string | undefined
  }>
  readonly recentFailures: ReadonlyArray<{ readonly kind: string; readonly message: string }>
  readonly mode?: PromptMode | undefined
  /** The instruction variant of this proposal (default: the first built-in one). */
  readonly instruction?: string | undefined
  /** Set on a retry: the answer that could not be used and why. */
  readonly retry?: { readonly previousAnswer: string; readonly reason: string; readonly attempt: number } | undefined
  /** Metric directions, for the "lagging metrics" analysis. */
  readonly objectives?: ReadonlyArray<{ readonly metric: string; readonly direction: "maximize" | "minimize" }> | undefined
  readonly requiredSymbols?: ReadonlyArray<string> | undefined
  readonly limits?: Partial<PromptLimits> | undefined
  readonly templates?: { readonly system?: string | undefined; readonly user?: string | undefined } | undefined
  /** How a multi-file program is shown and may be edited (TreePrompt.ts). */
  readonly tree?: TreePromptOptions | undefined
  /** Adaptive search: the island's exploration level, a paradigm shift, the latest meta-note. */
  readonly adaptive?: AdaptiveInput | undefined
}

export interface BuiltPrompt {
  readonly system: string
  readonly user: string
}

/** Instruction variants (one is drawn per proposal, to avoid every proposal asking the same thing). */
export const defaultInstructions: ReadonlyArray<string> = [
  "Make one focused, well-reasoned change that is likely to raise the score.",
  "Tune the parameters or constants that matter most for the score.",
  "Try a meaningfully different approach for the weakest part of the program.",
  "Combine the strongest ideas of the other programs shown above with the current program.",
  "Simplify: remove what does not help the score and strengthen what does.",
  "Address the weaknesses listed above, starting with the most important one."
]

export const fixInstruction =
  "The current program FAILS (see the error above). Fix the cause of the failure first, keeping its approach; do not start over."

/** Fence-like runs in free text would confuse fence parsers downstream. */
const defuse = (text: string): string => text.replace(/`{3,}|~{3,}/g, "'''")

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`)

/** The last `max` characters, cut at a line start when possible. */
const tail = (text: string, max: number): string => {
  if (text.length <= max) return text
  const cut = text.slice(text.length - max)
  const nl = cut.indexOf("\n")
  return `…${nl >= 0 && nl < max / 2 ? cut.slice(nl) : cut}`
}

/** A fence longer than any backtick run in `code`, so code containing ``` stays one block. */
export const fenceFor = (code: string): string => {
  let longest = 0
  for (const m of code.matchAll(/`{3,}/g)) longest = Math.max(longest, m[0].length)
  return "`".repeat(Math.max(3, longest + 1))
}

const fenced = (code: string, lang: string): string => {
  const fence = fenceFor(code)
  return `${fence}${lang}\n${code.replace(/\s+$/, "")}\n${fence}`
}

export const formatNumber = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  if (Number.isInteger(x) && Math.abs(x) < 1e12) return String(x)
  const a = Math.abs(x)
  return a !== 0 && (a < 1e-4 || a >= 1e9) ? x.toExponential(4) : String(Number(x.toPrecision(6)))
}

const formatMetrics = (metrics: Record<string, number>, max: number): string => {
  const entries = Object.entries(metrics).filter(([, v]) => typeof v === "number")
  const shown = entries.slice(0, max).map(([k, v]) => `${k}=${formatNumber(v)}`)
  if (entries.length > shown.length) shown.push(`(+${entries.length - shown.length} more)`)
  return shown.join(", ")
}

const fenceLang = (language: string): string => language.toLowerCase().replace(/[^a-z0-9+#-]/g, "")

const diffRules = `Answer with one or more SEARCH/REPLACE blocks, exactly in this format:

<<<<<<< SEARCH
lines copied exactly from the current program
=======
the new lines that replace them
>>>>>>> REPLACE

Rules:
- The SEARCH text must match the current program exactly, character for character, including indentation; quote a few whole lines, enough to be unique.
- Blocks are applied in order; keep each block small and focused.
- If the program has EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers, only change code between them and never remove the markers.
- Do not repeat the whole program. Before the blocks, explain the idea in one or two sentences.`

const fullRules = `Answer with the complete new program in a single fenced code block (\`\`\`), and nothing after it.

Rules:
- The program must be complete and runnable, keeping the same entry points and interface.
- If the program has EVOLVE-BLOCK-START / EVOLVE-BLOCK-END markers, keep them and leave every line outside them unchanged.
- Before the code block, explain the idea in one or two sentences.`

export const defaultSystemTemplate = `You are an expert {{language}} programmer improving a program through iterative evolution.
Each version you propose is run by an automatic evaluator and scored; higher scores are better.
Keep the program's interface, imports and output format intact.{{required_symbols}}

{{edit_rules}}`

export const defaultUserTemplate = `# Goal
{{goal}}

{{guidance}}

{{notes}}

# Current program's results
{{results}}

{{weaknesses}}

{{inspirations}}

{{project}}

{{search_status}}

{{retry}}

# Current program
{{current_program}}

{{instruction}}
{{task}}`

const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_]+)\s*\}\}/g
const SENTINEL_RE = /\u0000([A-Za-z_]+)\u0000/g

/**
 * One-pass `{{name}}` substitution (unknown names become empty). The template's own layout is
 * tidied (blank lines left by empty sections collapsed) before the values go in, so values,
 * code above all, are inserted byte for byte.
 */
export const renderTemplate = (template: string, values: Readonly<Record<string, string>>): string => {
  const skeleton = template
    .replace(/\u0000/g, "")
    .replace(PLACEHOLDER_RE, (_, name: string) => ((values[name] ?? "") === "" ? "" : `\u0000${name}\u0000`))
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()
  return skeleton.replace(SENTINEL_RE, (_, name: string) => values[name] ?? "")
}

const toLf = (text: string) => text.replace(/\r\n?/g, "\n")

/** Where the best inspiration's metrics differ from the parent's: lagging objectives first, then the largest relative gaps. */
const laggingMetrics = (input: PromptInput, best: PromptInput["inspirations"][number] | undefined): Array<string> => {
  const mine = input.parent.metrics
  if (!best || !mine) return []
  const directions = new Map((input.objectives ?? []).map((o) => [o.metric, o.direction]))
  const lines: Array<{ gap: number; text: string }> = []
  for (const [name, theirs] of Object.entries(best.metrics)) {
    const own = mine[name]
    if (typeof own !== "number" || typeof theirs !== "number" || own === theirs) continue
    if (!Number.isFinite(own) || !Number.isFinite(theirs)) continue
    const gap = Math.abs(own - theirs) / Math.max(Math.abs(own), Math.abs(theirs), 1e-12)
    const direction = directions.get(name)
    if (direction !== undefined) {
      const lags = direction === "maximize" ? own < theirs : own > theirs
      if (lags) {
        lines.push({
          gap: gap + 10,
          text: `- ${name} lags (${direction === "maximize" ? "higher" : "lower"} is better): ${formatNumber(own)} here, ${formatNumber(theirs)} in the best program`
        })
      }
    } else if (gap >= 0.05) {
      lines.push({ gap, text: `- ${name}: ${formatNumber(own)} here, ${formatNumber(theirs)} in the best program` })
    }
  }
  return lines.sort((a, b) => b.gap - a.gap).slice(0, 5).map((l) => l.text)
}

/** Builds the system and user prompts for one proposal. */
export const buildPrompt = (input: PromptInput): BuiltPrompt => {
  const limits: PromptLimits = { ...promptLimits, ...input.limits }
  const lang = fenceLang(input.language)
  const { parent } = input
  const treeOptions = input.tree ?? { ...defaultTreeOptions, contextChars: 20_000 }
  const isTree = isPacked(parent.code)
  const shownCode = isTree ? editableText(parent.code, treeOptions.editable) : parent.code
  const fix = input.mode === "fix" || (parent.failure != null && parent.score === null)

  // ---- results
  const results: Array<string> = []
  if (parent.failure) results.push(`FAILED: [${parent.failure.kind}] ${clip(defuse(parent.failure.message).replace(/\s+/g, " ").trim(), limits.failureChars * 2)}`)
  else if (parent.score === null && parent.metrics === null) results.push("Not evaluated yet.")
  else {
    if (parent.score !== null) results.push(`Score: ${formatNumber(parent.score)}`)
    if (parent.metrics && Object.keys(parent.metrics).length > 0) results.push(`Metrics: ${formatMetrics(parent.metrics, limits.metrics)}`)
  }

  // ---- weakness analysis
  const weak: Array<string> = []
  const ranked = [...input.inspirations].sort((a, b) => b.score - a.score)
  const best = ranked[0]
  if (best !== undefined && parent.score !== null && best.score > parent.score) {
    weak.push(`- Its score is below the best known program's (${formatNumber(best.score)}).`)
  }
  const lagging = laggingMetrics(input, best)
  if (lagging.length > 0) {
    weak.push("Metrics that differ from the best program:")
    weak.push(...lagging)
  }
  const failures = limits.failures > 0 ? input.recentFailures.slice(-limits.failures) : []
  if (failures.length > 0) {
    weak.push("Recent attempts that failed (avoid repeating them):")
    for (const f of failures) weak.push(`- [${f.kind}] ${clip(defuse(f.message).replace(/\s+/g, " ").trim(), limits.failureChars)}`)
  }
  if (parent.feedback && parent.feedback.trim() !== "" && limits.feedbackChars > 0) {
    weak.push(fix ? "The evaluator's output for the current program (tail):" : "Evaluator feedback on the current program (tail):")
    weak.push(tail(defuse(parent.feedback.trim()), limits.feedbackChars).split("\n").map((l) => `> ${l}`).join("\n"))
  }
  const weaknesses = weak.length > 0 ? clip(`# Weaknesses to address\n${weak.join("\n")}`, limits.weaknessChars) : ""

  // ---- inspirations
  const shown = ranked.slice(0, limits.inspirations)
  const inspirations = shown.length === 0 ? "" : `# Other programs for inspiration\n${
    shown.map((p, i) => {
      const metrics = Object.keys(p.metrics).length > 0 ? `\nMetrics: ${formatMetrics(p.metrics, limits.metrics)}` : ""
      const own = editableText(p.code, treeOptions.editable)
      const code = own.length > limits.inspirationChars
        ? `${own.slice(0, limits.inspirationChars)}\n… (truncated)`
        : own
      const label = p.label ? `, ${p.label}` : ""
      return `## Program ${i + 1} (score ${formatNumber(p.score)}${label})${metrics}\n${fenced(code, lang)}`
    }).join("\n\n")
  }`

  // ---- retry feedback
  const retry = input.retry === undefined ? "" : [
    `# Your previous answer could not be used (attempt ${input.retry.attempt})`,
    `Reason: ${clip(defuse(input.retry.reason).replace(/\s+/g, " ").trim(), limits.failureChars * 2)}`,
    "Your previous answer (code fences shown as '''):",
    clip(defuse(input.retry.previousAnswer.trim()), limits.retryAnswerChars).split("\n").map((l) => `> ${l}`).join("\n"),
    input.editFormat === "diff"
      ? "Answer again. Copy every SEARCH section exactly from the current program below."
      : "Answer again with the complete program in one fenced code block."
  ].join("\n")

  const instruction = fix ? fixInstruction : input.adaptive?.shift !== undefined ? shiftInstruction : input.instruction ?? defaultInstructions[0]!
  const task = input.editFormat === "diff"
    ? "Propose an improvement to the current program as SEARCH/REPLACE blocks."
    : "Propose an improved version of the current program as one complete fenced code block."
  const required = input.requiredSymbols ?? []
  const guidanceLines = defuse((input.guidance ?? "").trim())
  const guidance = guidanceLines === "" ? "" : `# Guidance from the user (follow it)\n${guidanceLines}`
  const currentProgram = fenced(shownCode, lang)
  const project = isTree
    ? [projectSection(parent.code, treeOptions, (code) => fenced(code, lang)), lastChangeSection(parent.patch, limits.inspirationChars)]
      .filter((x) => x !== "").join("\n\n")
    : ""
  const values: Record<string, string> = {
    goal: defuse(input.goal.trim()) || "Improve the program's score.",
    guidance,
    language: input.language,
    edit_rules: (input.editFormat === "diff" ? diffRules : fullRules) + (isTree ? treeRules(treeOptions, input.editFormat) : ""),
    required_symbols: required.length > 0 ? `\nThese names must stay defined: ${required.join(", ")}.` : "",
    results: results.join("\n"),
    weaknesses,
    inspirations,
    project,
    retry,
    current_program: currentProgram,
    instruction,
    task,
    notes: notesSection(input.adaptive),
    search_status: statusSection(input.adaptive)
  }
  const system = renderTemplate(input.templates?.system ?? defaultSystemTemplate, values)
  const userTemplate = input.templates?.user ?? defaultUserTemplate
  let user = renderTemplate(userTemplate, values)
  // Guidance reaches every prompt, also through a template that has no place for it.
  if (guidance !== "" && !/\{\{\s*guidance\s*\}\}/.test(userTemplate)) user = `${guidance}\n\n${user}`
  // So do a multi-file program's tree and adaptive search's sections (the current program stays last: it is checked below).
  for (const name of ["project", "notes", "search_status"]) {
    if (values[name] !== "" && !new RegExp(`\\{\\{\\s*${name}\\s*\\}\\}`).test(userTemplate)) user = `${values[name]}\n\n${user}`
  }
  // The current program must be the last fenced block, whatever the template says.
  if (fencedBlocks(user).blocks.at(-1) !== toLf(shownCode).replace(/\s+$/, "")) {
    user = `${user}\n\n# Current program\n${currentProgram}\n\n${task}`
  }
  return { system, user }
}
