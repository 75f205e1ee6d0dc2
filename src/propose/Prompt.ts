/**
 * Prompt building: a system prompt with the task and the exact edit format, and a compact user
 * prompt (goal, metrics, weaknesses, inspirations, then the current program). The current
 * program is always the LAST fenced code block of the user message: the offline model and the
 * test server find it that way.
 */

export interface PromptInput {
  readonly goal: string
  /** e.g. "javascript", "python" (also used as the code fence's info string). */
  readonly language: string
  readonly editFormat: "diff" | "full"
  readonly parent: {
    readonly code: string
    readonly metrics: Record<string, number> | null
    readonly score: number | null
    readonly feedback: string | null
  }
  readonly inspirations: ReadonlyArray<{
    readonly code: string
    readonly score: number
    readonly metrics: Record<string, number>
  }>
  readonly recentFailures: ReadonlyArray<{ readonly kind: string; readonly message: string }>
}

export interface BuiltPrompt {
  readonly system: string
  readonly user: string
}

/** Caps keeping prompts compact. */
export const promptLimits = {
  failures: 5,
  failureChars: 300,
  feedbackChars: 1500,
  inspirations: 3,
  inspirationChars: 4000,
  metrics: 12
} as const

/** Fence-like runs in free text would confuse fence parsers downstream. */
const defuse = (text: string): string => text.replace(/`{3,}|~{3,}/g, "'''")

const clip = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`

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

const formatMetrics = (metrics: Record<string, number>): string => {
  const entries = Object.entries(metrics).filter(([, v]) => typeof v === "number")
  const shown = entries.slice(0, promptLimits.metrics).map(([k, v]) => `${k}=${formatNumber(v)}`)
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

/** Builds the system and user prompts for one proposal. */
export const buildPrompt = (input: PromptInput): BuiltPrompt => {
  const lang = fenceLang(input.language)
  const system = [
    `You are an expert ${input.language} programmer improving a program through iterative evolution.`,
    "Each version you propose is run by an automatic evaluator and scored; higher scores are better.",
    "Make one focused, well-reasoned change that is likely to raise the score. Keep the program's interface, imports and output format intact.",
    "",
    input.editFormat === "diff" ? diffRules : fullRules
  ].join("\n")

  const sections: Array<string> = []
  sections.push(`# Goal\n${defuse(input.goal.trim()) || "Improve the program's score."}`)

  const { parent } = input
  const current: Array<string> = []
  if (parent.score === null && parent.metrics === null) current.push("Not evaluated yet.")
  else {
    if (parent.score !== null) current.push(`Score: ${formatNumber(parent.score)}`)
    if (parent.metrics && Object.keys(parent.metrics).length > 0) current.push(`Metrics: ${formatMetrics(parent.metrics)}`)
  }
  sections.push(`# Current program's results\n${current.join("\n")}`)

  const weak: Array<string> = []
  const best = input.inspirations.reduce<number | null>((m, p) => (m === null || p.score > m ? p.score : m), null)
  if (best !== null && parent.score !== null && best > parent.score) {
    weak.push(`- Its score is below the best known program's (${formatNumber(best)}).`)
  }
  const failures = input.recentFailures.slice(-promptLimits.failures)
  if (failures.length > 0) {
    weak.push("Recent attempts that failed (avoid repeating them):")
    for (const f of failures) {
      weak.push(`- [${f.kind}] ${clip(defuse(f.message).replace(/\s+/g, " ").trim(), promptLimits.failureChars)}`)
    }
  }
  if (parent.feedback && parent.feedback.trim() !== "") {
    weak.push("Evaluator feedback on the current program (tail):")
    weak.push(
      tail(defuse(parent.feedback.trim()), promptLimits.feedbackChars).split("\n").map((l) => `> ${l}`).join("\n")
    )
  }
  if (weak.length > 0) sections.push(`# Weaknesses to address\n${weak.join("\n")}`)

  const inspirations = [...input.inspirations]
    .sort((a, b) => b.score - a.score)
    .slice(0, promptLimits.inspirations)
  if (inspirations.length > 0) {
    const parts = inspirations.map((p, i) => {
      const metrics = Object.keys(p.metrics).length > 0 ? `\nMetrics: ${formatMetrics(p.metrics)}` : ""
      const code = p.code.length > promptLimits.inspirationChars
        ? `${p.code.slice(0, promptLimits.inspirationChars)}\n… (truncated)`
        : p.code
      return `## Program ${i + 1} (score ${formatNumber(p.score)})${metrics}\n${fenced(code, lang)}`
    })
    sections.push(`# Other programs for inspiration\n${parts.join("\n\n")}`)
  }

  sections.push(`# Current program\n${fenced(parent.code, lang)}`)
  sections.push(
    input.editFormat === "diff"
      ? "Propose an improvement to the current program as SEARCH/REPLACE blocks."
      : "Propose an improved version of the current program as one complete fenced code block."
  )
  return { system, user: sections.join("\n\n") }
}
