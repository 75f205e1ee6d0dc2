/**
 * What adaptive search (issue 17) adds to a proposal's prompt: the island's exploration level
 * (a stalled island is asked for bolder changes, as a full rewrite), a paradigm shift (every
 * island stalled: a summary of the approaches tried and a request for a fundamentally
 * different one), and the run's latest meta-note.
 */
import { EXPLORE_HEADING, NOTES_HEADING, SHIFT_HEADING } from "../domain/AdaptiveMarkers.js"

export interface AdaptiveInput {
  /** Exploration level of the parent's island: 0 normal, 1..3 stalled. */
  readonly level: number
  /** Set on a paradigm-shift proposal: the approaches tried so far, one per line. */
  readonly shift?: string | undefined
  /** The run's latest meta-note ("" or undefined: none yet). */
  readonly notes?: string | undefined
}

export const shiftInstruction =
  "Propose a FUNDAMENTALLY DIFFERENT approach to the problem, not a variation of the approaches above: " +
  "rethink the method, the structure or the key parameters from scratch, and write the complete new program."

/**
 * From this exploration level on, a stalled island asks for full rewrites (and samples parents
 * uniformly more often); level 1 only asks the usual parents for larger changes.
 */
export const REWRITE_LEVEL = 2

/** Whether the proposal's edit format is a full rewrite instead of diffs (a shift, or exploration level 2 and up). */
export const wantsRewrite = (a: AdaptiveInput | undefined) => a !== undefined && (a.shift !== undefined || a.level >= REWRITE_LEVEL)

/** The prompt section on the state of the search ("" for a normal proposal). */
export const statusSection = (a: AdaptiveInput | undefined): string => {
  if (a === undefined) return ""
  if (a.shift !== undefined) {
    return `${SHIFT_HEADING}\nThe search has stopped improving everywhere. Approaches tried so far:\n${a.shift}\n${shiftInstruction}`
  }
  if (a.level <= 0) return ""
  return `${EXPLORE_HEADING} (exploration level ${a.level})\n` +
    "The programs of this part of the search have stopped improving with small changes. " +
    (a.level >= 2
      ? "Make a bold change: a different algorithm or very different parameter values, not a small tweak."
      : "Try a larger change than usual: explore values and ideas further from the current ones.")
}

/** The meta-note section ("" when there is none). */
export const notesSection = (a: AdaptiveInput | undefined): string => {
  const notes = (a?.notes ?? "").trim()
  return notes === "" ? "" : `${NOTES_HEADING} (what worked and what failed)\n${notes}`
}
