/**
 * Random, reproducible mutations of JSON values, for checking a hand-written decoder against the
 * schema it implements: keys dropped, added or retyped, values swapped for other JSON types.
 */
import { mulberry32 } from "./FakeOpenAiServer.js"

const pick = <A>(random: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!

const scalars: ReadonlyArray<unknown> = [null, 0, -1, 3.5, 1e300, "", "x", "stdout", "done", true, false, [], {}, [1, "a"], { code: 1 }]

/** One value of another JSON type, or a scalar the decoder may confuse with a valid one. */
const replacement = (random: () => number): unknown => pick(random, scalars)

const mutateOnce = (value: unknown, random: () => number): unknown => {
  if (Array.isArray(value)) {
    if (value.length === 0 || random() < 0.2) return random() < 0.5 ? replacement(random) : [...value, replacement(random)]
    const i = Math.floor(random() * value.length)
    return value.map((v, j) => (j === i ? mutateOnce(v, random) : v))
  }
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value)
    const roll = random()
    if (keys.length === 0 || roll < 0.08) return replacement(random)
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    const key = pick(random, keys)
    if (roll < 0.2) delete copy[key]
    else if (roll < 0.32) copy[`extra${Math.floor(random() * 3)}`] = replacement(random)
    else if (roll < 0.45) copy[key] = replacement(random)
    else copy[key] = mutateOnce(copy[key], random)
    return copy
  }
  return replacement(random)
}

/** `value` with up to `times` random mutations (sometimes none). */
const mutations = (value: unknown, random: () => number, times: number): unknown => {
  let out = value
  const n = Math.floor(random() * (times + 1))
  for (let i = 0; i < n; i++) out = mutateOnce(out, random)
  return out
}

/** `n` JSON texts: the samples in turn, each with up to three mutations, from a seeded PRNG. */
export const mutatedTexts = (samples: ReadonlyArray<unknown>, seed: number, n: number): Array<string> => {
  const random = mulberry32(seed)
  return Array.from({ length: n }, (_, i) => JSON.stringify(mutations(samples[i % samples.length], random, 3)))
}
