/** A compact unified-style line diff, the patch recorded for a full rewrite. */
import { toLf } from "./EditText.js"

const MAX_DIFF_CELLS = 2_000_000
const MAX_PATCH_CHARS = 20_000

/** A unified-style diff (2 lines of context); one coarse hunk when the files are too big for LCS. */
export const lineDiff = (before: string, after: string): string => {
  const a = toLf(before).split("\n")
  const b = toLf(after).split("\n")
  let pre = 0
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++
  let suf = 0
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++
  const am = a.slice(pre, a.length - suf)
  const bm = b.slice(pre, b.length - suf)
  // ops over the middle: " " keep, "-" delete, "+" insert
  const ops: Array<{ op: " " | "-" | "+"; line: string }> = []
  if (am.length * bm.length <= MAX_DIFF_CELLS) {
    const n = am.length
    const m = bm.length
    const lcs = new Uint32Array((n + 1) * (m + 1))
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] = am[i] === bm[j]
          ? lcs[(i + 1) * (m + 1) + j + 1]! + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!)
      }
    }
    let i = 0
    let j = 0
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        ops.push({ op: " ", line: am[i]! })
        i++
        j++
      } else if (i < n && (j >= m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!)) {
        ops.push({ op: "-", line: am[i++]! })
      } else {
        ops.push({ op: "+", line: bm[j++]! })
      }
    }
  } else {
    for (const line of am) ops.push({ op: "-", line })
    for (const line of bm) ops.push({ op: "+", line })
  }
  const all = [
    ...a.slice(0, pre).map((line) => ({ op: " " as const, line })),
    ...ops,
    ...a.slice(a.length - suf).map((line) => ({ op: " " as const, line }))
  ]
  // group into hunks with 2 lines of context
  const context = 2
  const out: Array<string> = []
  let k = 0
  let oldLine = 1
  let newLine = 1
  while (k < all.length) {
    if (all[k]!.op === " ") {
      k++
      oldLine++
      newLine++
      continue
    }
    const start = Math.max(0, k - context)
    let end = k
    // extend while changes are within 2*context of each other
    for (;;) {
      while (end < all.length && all[end]!.op !== " ") end++
      let gap = end
      while (gap < all.length && all[gap]!.op === " " && gap - end < 2 * context) gap++
      if (gap < all.length && all[gap]!.op !== " ") end = gap
      else break
    }
    const stop = Math.min(all.length, end + context)
    const oldStart = oldLine - (k - start)
    const newStart = newLine - (k - start)
    const hunk = all.slice(start, stop)
    const oldCount = hunk.filter((h) => h.op !== "+").length
    const newCount = hunk.filter((h) => h.op !== "-").length
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`)
    for (const h of hunk) out.push(`${h.op}${h.line}`)
    for (let t = k; t < stop; t++) {
      if (all[t]!.op !== "+") oldLine++
      if (all[t]!.op !== "-") newLine++
    }
    k = stop
  }
  const text = out.join("\n")
  return text.length > MAX_PATCH_CHARS ? `${text.slice(0, MAX_PATCH_CHARS)}\n… (diff truncated)` : text
}
