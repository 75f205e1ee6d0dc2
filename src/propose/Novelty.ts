/**
 * Novelty before evaluation, after the exact-duplicate check (normalised code hash, in the
 * engine): the candidate's embedding is compared (cosine similarity) with the embeddings of
 * programs of its island; at or above the threshold the candidate is rejected, unless the
 * optional LLM judge says it is still meaningfully different. Embeddings are cached by code
 * hash. A failing embedding call never blocks a run: the candidate counts as novel.
 */
import { Effect, Either } from "effect"
import type { LlmError } from "../domain/Errors.js"
import { cosineSimilarity } from "../llm/Embeddings.js"
import type { LlmReply } from "../llm/LlmClient.js"
import { codeHash } from "./Edits.js"
import { fenceFor } from "./Prompt.js"

export interface Neighbour {
  readonly id: string
  readonly code: string
}

export interface NoveltySettings {
  /** Reject at cosine similarity ≥ this; undefined: no embedding check. */
  readonly embeddingThreshold?: number | undefined
  /** Ask the LLM before rejecting a too-similar candidate. */
  readonly llmJudge: boolean
}

export type NoveltyVerdict =
  | {
    readonly novel: true
    /** The highest similarity found (null when nothing was compared). */
    readonly similarity: number | null
    readonly llm: LlmReply | null
    readonly note: string | null
  }
  | {
    readonly novel: false
    readonly reason: string
    readonly similarTo: string
    readonly similarity: number
    readonly llm: LlmReply | null
  }

export type Embed = (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, LlmError>

/** true: meaningfully different; false: essentially the same; null: the answer was not understood. */
export type Judge = (candidate: string, other: string) => Effect.Effect<{ readonly novel: boolean | null; readonly llm: LlmReply | null }>

export type NoveltyCheck = (
  candidate: string,
  neighbours: ReadonlyArray<Neighbour>,
  settings: NoveltySettings
) => Effect.Effect<NoveltyVerdict>

const CACHE_SIZE = 4096

export const judgeSystem =
  "You compare two programs for an evolutionary program search. Answer with one word: NOVEL if the candidate " +
  "is meaningfully different from the existing program (another idea, algorithm or structure, or a change " +
  "likely to change its results), or DUPLICATE if it is essentially the same program with cosmetic or trivial changes."

export const judgeUser = (candidate: string, other: string): string => {
  const block = (code: string) => {
    const fence = fenceFor(code)
    return `${fence}\n${code.replace(/\s+$/, "")}\n${fence}`
  }
  return `# Existing program\n${block(other)}\n\n# Candidate program\n${block(candidate)}\n\nAnswer NOVEL or DUPLICATE.`
}

/** Reads the judge's one-word answer. */
export const parseJudgement = (text: string): boolean | null => {
  const dup = /\bDUPLICATE\b/i.test(text)
  const novel = /\bNOVEL\b/i.test(text)
  if (dup && !novel) return false
  if (novel && !dup) return true
  return null
}

export const makeNoveltyCheck = (embed: Embed, judge: Judge | undefined): NoveltyCheck => {
  const cache = new Map<string, ReadonlyArray<number>>()
  const remember = (hash: string, v: ReadonlyArray<number>) => {
    cache.delete(hash)
    cache.set(hash, v)
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!)
  }

  const vectors = (codes: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const hashes = codes.map(codeHash)
      const missing: Array<number> = []
      hashes.forEach((h, i) => {
        if (!cache.has(h) && !missing.some((j) => hashes[j] === h)) missing.push(i)
      })
      if (missing.length > 0) {
        const fresh = yield* embed(missing.map((i) => codes[i]!))
        missing.forEach((i, k) => remember(hashes[i]!, fresh[k] ?? []))
      }
      return hashes.map((h) => cache.get(h) ?? [])
    })

  return (candidate, neighbours, settings) =>
    Effect.gen(function*() {
      const threshold = settings.embeddingThreshold
      if (threshold === undefined || neighbours.length === 0) return { novel: true, similarity: null, llm: null, note: null } as const
      const computed = yield* Effect.either(vectors([candidate, ...neighbours.map((n) => n.code)]))
      if (Either.isLeft(computed)) {
        yield* Effect.logWarning(`novelty check skipped: embeddings failed: ${computed.left.message}`)
        return { novel: true, similarity: null, llm: null, note: "embeddings failed" } as const
      }
      const [own, ...others] = computed.right
      let best = -Infinity
      let nearest = 0
      others.forEach((v, i) => {
        const s = cosineSimilarity(own!, v)
        if (s > best) {
          best = s
          nearest = i
        }
      })
      if (best < threshold) return { novel: true, similarity: best, llm: null, note: null } as const
      const near = neighbours[nearest]!
      if (settings.llmJudge && judge !== undefined) {
        const verdict = yield* judge(candidate, near.code)
        if (verdict.novel !== false) {
          return {
            novel: true,
            similarity: best,
            llm: verdict.llm,
            note: verdict.novel === true ? "judged novel by the LLM" : "LLM judgement not understood"
          } as const
        }
        return {
          novel: false,
          reason: `too similar to ${near.id} (cosine ${best.toFixed(4)} ≥ ${threshold}) and judged a duplicate by the LLM`,
          similarTo: near.id,
          similarity: best,
          llm: verdict.llm
        } as const
      }
      return {
        novel: false,
        reason: `too similar to ${near.id} (cosine ${best.toFixed(4)} ≥ ${threshold})`,
        similarTo: near.id,
        similarity: best,
        llm: null
      } as const
    })
}
