/**
 * The one backoff schedule of evolve (LLM retries, batch retries): exponential from `base`,
 * × `factor` per retry, each delay scaled by a random factor in [0.8, 1.2] (`Schedule.jittered`,
 * Effect's `Random`) and then capped at `max`. It recurs forever: callers bound it (retry count,
 * deadline, input predicate).
 */
import { Duration, Schedule } from "effect"

export const BASE_DELAY_MS = 500
export const BACKOFF_FACTOR = 2
/** Cap on each backoff delay. */
export const MAX_DELAY_MS = 8_000
/** `Schedule.jittered` multiplies each delay by a factor in [0.8, 1.2]. */
export const JITTER_MIN = 0.8
export const JITTER_MAX = 1.2

export interface BackoffOptions {
  readonly base?: Duration.DurationInput | undefined
  readonly factor?: number | undefined
  readonly max?: Duration.DurationInput | undefined
  /** Default true. */
  readonly jitter?: boolean | undefined
}

export const backoff = (options: BackoffOptions = {}): Schedule.Schedule<void> => {
  const exponential = Schedule.exponential(options.base ?? BASE_DELAY_MS, options.factor ?? BACKOFF_FACTOR)
  return (options.jitter === false ? exponential : Schedule.jittered(exponential)).pipe(
    Schedule.union(Schedule.spaced(options.max ?? MAX_DELAY_MS)), // the shorter of the two: caps each delay
    Schedule.asVoid
  )
}

/** The delay before retry `retry` (1-based) with the default options, for jitter draw `random` in [0, 1). */
export const backoffDelayMs = (retry: number, random: number): number => {
  const d = BASE_DELAY_MS * Math.pow(BACKOFF_FACTOR, retry - 1)
  const jittered = d * JITTER_MIN * (1 - random) + d * JITTER_MAX * random
  return Math.min(jittered, MAX_DELAY_MS)
}
