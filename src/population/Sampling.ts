/**
 * Drawing a parent and inspirations from one island (Effect's `Random` only):
 * - the parent by the selection strategy (power_law over rank, fitness_weighted, hill_climb,
 *   beam, uniform, mix), or with objectives, for a `paretoShare` of draws, from the Pareto front;
 * - inspirations: the island's best, then diverse ones — migrants first (they carry the other
 *   islands' ideas), elites of other MAP-Elites cells, then any member;
 * - fix mode while no program of the island is scored: its "best" failure (the one that got
 *   furthest), else the best failure of any island.
 */
import { Effect, Random } from "effect"
import type { ProgramId } from "../domain/Ids.js"
import { failureRank, type Island, type Member } from "./Island.js"
import type { SearchOptions } from "./SearchOptions.js"
import { fitnessWeightedIndex, powerLawRank, uniformIndex } from "./Selection.js"

export type SampleMode = "exploit" | "explore" | "pareto" | "fix"

/** top: among the island's best; migrant: copied from another island; cell: elite of another MAP-Elites cell; random: any member. */
export type InspirationKind = "top" | "migrant" | "cell" | "random"

export interface Sample {
  /** A scored member, or in fix mode a failed program. */
  readonly parent: { readonly id: ProgramId; readonly island: number; readonly generation: number; readonly score?: number }
  readonly inspirations: ReadonlyArray<Member>
  /** Why each inspiration was chosen (same order). */
  readonly inspirationKinds?: ReadonlyArray<InspirationKind> | undefined
  /** The island the child belongs to. */
  readonly island: number
  readonly mode: SampleMode
}

/** The fix-mode sample of `island`: its best failure, else the best failure of any island. */
export const fixSample = (island: Island, islands: ReadonlyArray<Island>): Sample | undefined => {
  const failure = island.bestFailure() ??
    islands.map((i) => i.bestFailure()).filter((f) => f !== undefined).sort((a, b) =>
      (failureRank[b!.kind] ?? -1) - (failureRank[a!.kind] ?? -1)
    )[0]
  if (failure === undefined) return undefined
  return { parent: failure, inspirations: [], island: island.index, mode: "fix" }
}

/**
 * A parent from `pool` (the island's elites or members, best first); `uses` counts past picks.
 * `explore` (adaptive search, a stalled island): the probability of a uniform pick instead (no
 * draw is made when it is 0, so a run without it draws exactly as before).
 */
export const pickParent = (
  island: Island,
  pool: ReadonlyArray<Member>,
  o: SearchOptions,
  uses: ReadonlyMap<string, number>,
  explore = 0
): Effect.Effect<{ member: Member; mode: SampleMode }> =>
  Effect.gen(function*() {
    const n = pool.length
    if (explore > 0 && (yield* Random.next) < explore) return { member: pool[yield* uniformIndex(n)]!, mode: "explore" as const }
    if (o.paretoShare > 0 && island.front.length > 0 && (yield* Random.next) < o.paretoShare) {
      return { member: island.front[yield* uniformIndex(island.front.length)]!.member, mode: "pareto" as const }
    }
    switch (o.selection) {
      case "hill_climb":
        return { member: pool[0]!, mode: "exploit" as const }
      case "beam":
        return { member: pool[yield* uniformIndex(Math.min(n, o.beamWidth))]!, mode: "exploit" as const }
      case "uniform":
        return { member: pool[yield* uniformIndex(n)]!, mode: "explore" as const }
      case "power_law":
        return { member: pool[yield* powerLawRank(n, o.powerLawAlpha)]!, mode: "exploit" as const }
      case "fitness_weighted":
        return { member: pool[yield* fitnessWeightedIndex(pool, uses, o.weightSharpness, o.reusePenalty)]!, mode: "exploit" as const }
      case "mix": {
        if ((yield* Random.next) < o.exploitation) {
          return { member: pool[yield* powerLawRank(n, o.powerLawAlpha)]!, mode: "exploit" as const }
        }
        return { member: pool[yield* uniformIndex(n)]!, mode: "explore" as const }
      }
    }
  })

/** Inspirations for `parent`: the island's best, then diverse ones, each with why it was chosen. */
export const inspirationsFor = (
  island: Island,
  pool: ReadonlyArray<Member>,
  parent: Member,
  o: SearchOptions
): Effect.Effect<{ members: Array<Member>; kinds: Array<InspirationKind> }> =>
  Effect.gen(function*() {
    const chosen = new Set<string>([parent.id])
    const out: Array<Member> = []
    const kinds: Array<InspirationKind> = []
    let kind: InspirationKind = "top"
    const take = (m: Member | undefined) => {
      if (m === undefined || chosen.has(m.id)) return false
      chosen.add(m.id)
      out.push(m)
      kinds.push(kind)
      return true
    }
    for (let i = 0; i < pool.length && out.length < o.topInspirations; i++) take(pool[i])
    let diverse = 0
    const want = o.diverseInspirations
    /** Up to `k` random distinct items of `list` passing `ok` (without replacement). */
    const pickFrom = (list: ReadonlyArray<Member>, ok: (m: Member) => boolean) =>
      Effect.gen(function*() {
        if (diverse >= want || list.length === 0) return
        if (list.length > 4096) {
          for (let tries = 0; diverse < want && tries < 8 * want; tries++) {
            const m = list[yield* uniformIndex(list.length)]!
            if (ok(m) && take(m)) diverse++
          }
          return
        }
        const candidates = list.filter((m) => !chosen.has(m.id) && ok(m))
        for (let i = 0; diverse < want && i < candidates.length; i++) {
          const j = i + (yield* uniformIndex(candidates.length - i))
          const m = candidates[j]!
          candidates[j] = candidates[i]!
          candidates[i] = m
          if (take(m)) diverse++
        }
      })
    // Migrants first: they carry the other islands' ideas; then elites of other MAP-Elites
    // cells; then any member.
    kind = "migrant"
    yield* pickFrom(island.migrants, () => true)
    const grid = island.grid
    if (grid) {
      kind = "cell"
      const parentCell = grid.cellOfElite(parent.id)
      yield* pickFrom(grid.elites, (e) => parentCell === undefined || grid.cellOfElite(e.id) !== parentCell)
    }
    kind = "random"
    yield* pickFrom(island.members, () => true)
    return { members: out, kinds }
  })

/**
 * A sample under a person's steering (Population.sampleSteered): a pinned parent (`island`
 * undefined), else a pick from `island`'s pool without the banned programs; undefined when the
 * island has nothing left (the engine then breeds from the initial program).
 */
export const steeredSample = (
  islands: ReadonlyArray<Island>,
  island: Island | undefined,
  pinned: ReadonlyArray<Member>,
  banned: ReadonlySet<string>,
  options: SearchOptions,
  uses: Map<string, number>,
  explore: (island: number) => number
): Effect.Effect<Sample | undefined> => {
  const pool = island === undefined ? [] : (island.pool.length > 0 ? island.pool : island.members).filter((m) => !banned.has(m.id))
  if (island !== undefined && pool.length === 0) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    let home = island
    let member: Member
    let mode: SampleMode = "exploit"
    if (home === undefined) {
      member = pinned[yield* uniformIndex(pinned.length)]!
      home = islands[member.island % islands.length]!
    } else {
      const picked = yield* pickParent(home, pool, options, uses, explore(home.index))
      // The Pareto front is not filtered: a banned pick falls back to the pool's best.
      member = banned.has(picked.member.id) ? pool[0]! : picked.member
      mode = picked.mode
    }
    uses.set(member.id, (uses.get(member.id) ?? 0) + 1)
    const inspirations = yield* inspirationsFor(home, home.members, member, options)
    return { parent: member, inspirations: inspirations.members, inspirationKinds: inspirations.kinds, island: home.index, mode }
  })
}
