/**
 * Headings adaptive search (issue 17) puts in prompts. The offline model looks for them to
 * answer an exploring island with bolder mutations, a paradigm shift with a jump, and a
 * meta-note request with a note, so the effect of adaptive search is measurable offline.
 */
export const EXPLORE_HEADING = "# The search has stalled here"
export const SHIFT_HEADING = "# Paradigm shift"
export const META_NOTE_HEADING = "# Meta-note request"
export const NOTES_HEADING = "# Notes on the search so far"

/** The exploration level a prompt asks for: 0 none, 1..3 an exploring island, 4 a paradigm shift. */
export const boldnessOf = (prompt: string): number => {
  if (prompt.includes(SHIFT_HEADING)) return 4
  const m = new RegExp(`${EXPLORE_HEADING} \\(exploration level (\\d)\\)`).exec(prompt)
  return m === null ? 0 : Number(m[1])
}
