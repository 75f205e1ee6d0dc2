import { Config, Effect, Option } from "effect"
import * as v8 from "node:v8"
import { ConfigError } from "../domain/Errors.js"

/** How much `evolve serve` lets V8 grow the heap past the live data after a full collection, in percent. */
export const serviceHeapGrowthPercent = 50

/** V8 flags by which the user has already chosen a heap policy; evolve then leaves the heap alone. */
const heapFlags = /--(max-old-space-size|max-heap-size|heap-growing-percent|optimize-for-size)\b/

/**
 * The heap growth evolve asks V8 for, or undefined to leave V8's own policy: the user's
 * `EVOLVE_HEAP_GROWTH_PERCENT` (0 = V8's own), none when node was started with a heap flag,
 * else `fallback`. Throws on a value that is not an integer 0–400.
 */
export const heapGrowthPercent = (
  execArgv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  fallback: number | undefined
) => {
  const setting = env["EVOLVE_HEAP_GROWTH_PERCENT"]?.trim()
  if (setting !== undefined && setting !== "") {
    const percent = Number(setting)
    if (!Number.isInteger(percent) || percent < 0 || percent > 400) {
      throw new Error(`EVOLVE_HEAP_GROWTH_PERCENT: expected an integer from 0 to 400, got "${setting}"`)
    }
    return percent === 0 ? undefined : percent
  }
  const userFlags = [...execArgv, env["NODE_OPTIONS"] ?? ""].join(" ")
  return heapFlags.test(userFlags) ? undefined : fallback
}

/**
 * Keeps a long-lived process's memory flat. Left alone on a large machine, V8 lets a busy heap
 * grow to about four times its live data before collecting (10 runs × P=16 in `evolve serve`:
 * live heap 55–75 MB, peaks 210 MB, RSS creeping 255 → 350 MB); growth of 50% keeps the
 * service at ~215 MB with no hard cap to run out of. It costs CPU in collections, which is why a
 * single CPU-bound `evolve run` keeps V8's policy (with 50%, P=64 ran at 0.18–0.20 of the ideal
 * instead of 0.23–0.26). V8 reads this flag at every full collection, so setting it at
 * start-up works, unlike `--max-old-space-size`.
 */
export const limitHeapGrowth = (percent: number | undefined) => {
  if (percent !== undefined) v8.setFlagsFromString(`--heap-growing-percent=${percent}`)
}

const variable = (name: string) =>
  Config.option(Config.string(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()), Effect.map(Option.getOrUndefined))

/** Applies `heapGrowthPercent` for this process; a bad `EVOLVE_HEAP_GROWTH_PERCENT` is a ConfigError. */
export const applyHeapPolicy = (fallback: number | undefined) =>
  Effect.gen(function*() {
    const env = {
      EVOLVE_HEAP_GROWTH_PERCENT: yield* variable("EVOLVE_HEAP_GROWTH_PERCENT"),
      NODE_OPTIONS: yield* variable("NODE_OPTIONS")
    }
    const execArgv = yield* Effect.sync(() => process.execArgv)
    return yield* Effect.try({
      try: () => limitHeapGrowth(heapGrowthPercent(execArgv, env, fallback)),
      catch: (e) => new ConfigError({ message: e instanceof Error ? e.message : String(e) })
    })
  })
