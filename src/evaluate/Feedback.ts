/**
 * A candidate's artifacts folded into one feedback text, stored with the candidate and shown
 * to the LLM when the candidate becomes a parent: the evaluator's text feedback, notes (e.g.
 * where a cascade stopped), returned artifacts, stderr and stdout tails, and how the process
 * ended. Sections are labelled (`[stderr]`, `[artifact name]`, …) and share one character
 * budget, the size the prompt shows, so no section crowds out the others.
 */

/** The prompt shows this much of the feedback (its tail). */
export const feedbackBudget = 1500

export interface FeedbackParts {
  /** The evaluator's own words (`text_feedback`), shown first and unlabelled. */
  readonly textFeedback?: string | null | undefined
  readonly notes?: ReadonlyArray<string> | undefined
  readonly artifacts?: Readonly<Record<string, string>> | undefined
  readonly stderr?: string | undefined
  /** Included only when the caller decides it helps (usually on failure). */
  readonly stdout?: string | undefined
  /** How the process ended, e.g. "exit code 1" or "killed by SIGSEGV" (failures only). */
  readonly exit?: string | null | undefined
}

interface Section {
  readonly label: string | null
  readonly text: string
  /** Keep the end (logs) rather than the start (messages). */
  readonly keepTail: boolean
}

const cut = (section: Section, max: number): string => {
  const text = section.text
  if (text.length <= max) return text
  if (max <= 1) return "…"
  return section.keepTail ? `…${text.slice(text.length - max + 1)}` : `${text.slice(0, max - 1)}…`
}

/** Shares `budget` characters among sections: short ones keep everything, long ones split the rest. */
const allocate = (sections: ReadonlyArray<Section>, budget: number): Array<number> => {
  const order = sections.map((s, i) => ({ i, length: s.text.length })).sort((a, b) => a.length - b.length)
  const shares = new Array<number>(sections.length).fill(0)
  let left = budget
  order.forEach(({ i, length }, k) => {
    const fair = Math.floor(left / (order.length - k))
    shares[i] = Math.min(length, fair)
    left -= shares[i]!
  })
  return shares
}

/** The feedback text, or null when there is nothing to say. */
export const compose = (parts: FeedbackParts, budget = feedbackBudget): string | null => {
  const sections: Array<Section> = []
  const add = (label: string | null, text: string | null | undefined, keepTail = false) => {
    const trimmed = text?.trim()
    if (trimmed) sections.push({ label, text: trimmed, keepTail })
  }
  add(null, parts.textFeedback)
  for (const note of parts.notes ?? []) add("[note]", note)
  for (const [name, value] of Object.entries(parts.artifacts ?? {})) add(`[artifact ${name}]`, value)
  add("[stderr]", parts.stderr, true)
  add("[stdout]", parts.stdout, true)
  add("[exit]", parts.exit)
  if (sections.length === 0) return null
  const overhead = sections.reduce((n, s) => n + (s.label === null ? 0 : s.label.length + 1) + 2, 0)
  const shares = allocate(sections, Math.max(sections.length * 40, budget - overhead))
  return sections
    .map((section, i) => {
      const body = cut(section, shares[i]!)
      return section.label === null ? body : `${section.label}\n${body}`
    })
    .join("\n\n")
}

/** Artifacts returned by an evaluator, as text (bytes were decoded by the worker). */
export const artifactsFrom = (value: unknown): Record<string, string> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {}
  const out: Record<string, string> = {}
  for (const [key, item] of Object.entries(value)) {
    out[key] = typeof item === "string" ? item : JSON.stringify(item) ?? String(item)
  }
  return out
}
