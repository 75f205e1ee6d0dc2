/**
 * The scored programs of a run, in memory (ids, scores, descriptors; code stays in the
 * database), split into islands.
 *
 * - Islands: each proposal is bred on one island (round robin); its parent and inspirations
 *   come only from that island's members: its own programs, copies migrated into it, and the
 *   initial program, which seeds every island. Its child belongs to the same island.
 * - Migration (ring): `migrate()` copies the best `migrationFraction` of each island's own
 *   programs to the next island. Copies are tagged with their origin and never migrate again;
 *   a program already present on the target is not copied twice (code is unique in a run:
 *   the engine rejects duplicate code before evaluation, so "same program" is "same code").
 * - MAP-Elites (optional, per island): with a grid, parents are drawn from the cell elites
 *   only; diverse inspirations come from other cells.
 * - Selection strategies: power_law (over rank), fitness_weighted (sigmoid of the score, with a
 *   penalty for parents used often), hill_climb (the best), beam (uniform over the best k),
 *   uniform, mix (exploit with power_law, else explore uniformly); with objectives, a share of
 *   parents comes from the island's Pareto front.
 * - Fix mode: while an island has no scored program, its parent is its "best" failed program
 *   (the failure that got furthest: bad metrics > output limit > timeout > crash; most recent
 *   first), sent with its error.
 *
 * Sampling is O(1)–O(log n) per draw (fitness_weighted looks at the best 2048 at most), so a
 * draw stays far below a millisecond at 100k programs.
 */
import { Effect } from "effect"
import type { PopulationEntry } from "../db/Records.js"
import type { ProgramId } from "../domain/Ids.js"
import type { Direction } from "../domain/RunConfig.js"
import { type Descriptor, describe, EDIT_DISTANCE } from "./Features.js"
import { type Grid, insertSorted } from "./Grid.js"
import { type FailedEntry, FRONT_CAP, Island, type Member } from "./Island.js"
import { addToFront, type FrontEntry, frontOf, isComplete, orient } from "./Pareto.js"
import { fixSample, inspirationsFor, pickParent, type Sample, steeredSample } from "./Sampling.js"
import { defaultOptions, type SearchOptions } from "./SearchOptions.js"

export type { FailedEntry, Member } from "./Island.js"
export type { InspirationKind, Sample, SampleMode } from "./Sampling.js"
export { defaultOptions, optionsFromConfig, type SearchOptions } from "./SearchOptions.js"

export interface Migration {
  readonly id: ProgramId
  readonly from: number
  readonly to: number
}

export interface PopulationInit {
  readonly migrants?: ReadonlyArray<{ readonly programId: ProgramId; readonly island: number; readonly origin: number }>
  readonly failures?: ReadonlyArray<FailedEntry>
}

export class Population {
  /** Every distinct scored program (no copies), best first. */
  private readonly sorted: Array<Member> = []
  private readonly byId = new Map<string, Member>()
  private readonly islands: Array<Island>
  private readonly uses = new Map<string, number>()
  private readonly directions: ReadonlyArray<Direction>
  private next = 0

  constructor(
    entries: Iterable<PopulationEntry & { readonly descriptor?: Descriptor | undefined }> = [],
    readonly options: SearchOptions = defaultOptions,
    init: PopulationInit = {}
  ) {
    this.islands = Array.from({ length: Math.max(1, options.islands) }, (_, i) => new Island(i, options.features))
    this.directions = options.objectives.map((o) => o.direction)
    this.load([...entries])
    for (const m of init.migrants ?? []) {
      const member = this.byId.get(m.programId)
      if (member !== undefined) this.placeMigrant(member, m.origin, m.island)
    }
    for (const f of init.failures ?? []) this.addFailure(f)
  }

  /** Bulk load (a resumed run): entries are appended best first, fronts built in one sweep. */
  private load(entries: Array<PopulationEntry & { readonly descriptor?: Descriptor | undefined }>) {
    if (entries.length === 0) return
    entries.sort((a, b) => b.score - a.score)
    const n = this.islands.length
    // Set the grids' ranges first, so that loading re-bins nothing.
    if (this.options.features.length > 0) {
      for (const entry of entries) {
        const values = entry.descriptor?.features
        if (values === undefined) continue
        for (const island of entry.generation === 0 ? this.islands : [this.islands[entry.island % n]!]) island.grid?.observe(values)
      }
    }
    const candidates: Array<Array<FrontEntry<Member>>> = this.islands.map(() => [])
    const place = (island: Island, member: Member) => {
      island.members.push(member)
      if (n > 1) island.ids.add(member.id)
      const features = member.descriptor?.features
      if (island.grid && features) island.grid.add(member, features)
      if (this.directions.length > 0) {
        const v = this.vectorOf(member)
        if (v !== undefined) candidates[island.index]!.push({ member, v, score: member.score })
      }
      if (this.needsReferenceCode && island.references.length < this.options.referencePrograms) {
        island.references.push({ id: member.id, score: member.score, code: undefined })
      }
    }
    for (const entry of entries) {
      if (this.byId.has(entry.id)) continue
      if (entry.generation === 0) {
        const member: Member = { ...entry, root: true }
        this.byId.set(member.id, member)
        this.sorted.push(member)
        for (const island of this.islands) place(island, island.index === member.island ? member : { ...member, island: island.index })
      } else {
        const index = entry.island % n
        const member: Member = index === entry.island ? entry : { ...entry, island: index }
        this.byId.set(member.id, member)
        this.sorted.push(member)
        place(this.islands[index]!, member)
      }
    }
    if (this.directions.length > 0) {
      for (const island of this.islands) island.front = frontOf(candidates[island.index]!, FRONT_CAP)
    }
  }
  get size(): number {
    return this.sorted.length
  }

  get islandCount(): number {
    return this.islands.length
  }

  get best(): PopulationEntry | undefined {
    return this.sorted[0]
  }

  top(n: number): ReadonlyArray<PopulationEntry> {
    return this.sorted.slice(0, n)
  }

  /** The best `n` members of an island (migrants and the initial program included). */
  islandTop(island: number, n: number): ReadonlyArray<Member> {
    return (this.islands[island]?.members ?? []).slice(0, n)
  }

  /** The score of an island's `k`-th best member (-Infinity while it has fewer): "among the best k" is `score >= this`. */
  islandRankScore(island: number, k: number): number {
    const members = this.islands[island]?.members
    if (members === undefined || k <= 0) return Number.POSITIVE_INFINITY
    return members.length < k ? Number.NEGATIVE_INFINITY : members[k - 1]!.score
  }

  islandMembers(island: number): ReadonlyArray<Member> {
    return this.islands[island]?.members ?? []
  }

  islandSize(island: number): number {
    return this.islands[island]?.members.length ?? 0
  }

  /** The cell elites of an island's grid (empty without MAP-Elites). */
  islandElites(island: number): ReadonlyArray<Member> {
    return this.islands[island]?.grid?.elites ?? []
  }

  grid(island: number): Grid<Member> | undefined {
    return this.islands[island]?.grid
  }

  /** The island's Pareto front (multi-objective runs). */
  islandFront(island: number): ReadonlyArray<Member> {
    return (this.islands[island]?.front ?? []).map((f) => f.member)
  }

  /** The Pareto front over every program of the run. */
  paretoFront(): ReadonlyArray<Member> {
    const all: Array<FrontEntry<Member>> = []
    for (const member of this.sorted) {
      const v = this.vectorOf(member)
      if (v !== undefined) all.push({ member, v, score: member.score })
    }
    return frontOf(all).map((f) => f.member)
  }

  /** The score of a scored program (undefined for any other id). */
  scoreOf(id: string): number | undefined {
    return this.byId.get(id)?.score
  }

  /** How many times a program was picked as a parent. */
  timesUsed(id: string): number {
    return this.uses.get(id) ?? 0
  }

  // ---- descriptors ------------------------------------------------------------------------

  /** Whether committed programs need a descriptor (MAP-Elites features or objectives). */
  get needsDescriptors(): boolean {
    return this.options.features.length > 0 || this.options.objectives.length > 0
  }

  /** Whether the edit-distance feature needs the codes of each island's best programs. */
  get needsReferenceCode(): boolean {
    return this.options.features.some((f) => f.name === EDIT_DISTANCE)
  }

  /** The descriptor of a new program of `island` (edit distance against the island's best programs). */
  describe(island: number, code: string, metrics: Readonly<Record<string, number>>): Descriptor {
    const refs = this.islands[island]?.references.flatMap((r) => (r.code === undefined ? [] : [r.code])) ?? []
    return describe(
      { code, metrics, references: refs },
      this.options.features.map((f) => f.name),
      this.options.objectives.map((o) => o.metric)
    )
  }

  /** Ids whose code the edit-distance references still lack (after a resume). */
  missingReferenceCode(): ReadonlyArray<string> {
    if (!this.needsReferenceCode) return []
    const out = new Set<string>()
    for (const island of this.islands) for (const r of island.references) if (r.code === undefined) out.add(r.id)
    return [...out]
  }

  setReferenceCode(id: string, code: string): void {
    for (const island of this.islands) for (const r of island.references) if (r.id === id) r.code = code
  }

  /** Loads the reference codes a resumed run lacks. */
  loadReferenceCode<E, R>(load: (id: string) => Effect.Effect<string, E, R>): Effect.Effect<void, E, R> {
    return Effect.forEach(this.missingReferenceCode(), (id) => Effect.map(load(id), (code) => this.setReferenceCode(id, code)), {
      discard: true
    })
  }

  // ---- adding -----------------------------------------------------------------------------

  /** The oriented objective vector of a member, undefined when an objective is missing. */
  private vectorOf(m: Member): ReadonlyArray<number> | undefined {
    const o = m.descriptor?.objectives
    if (o === undefined || o.length !== this.directions.length) return undefined
    const v = orient(o, this.directions)
    return isComplete(v) ? v : undefined
  }

  /** Adds a scored program to its island (the initial program, generation 0, joins every island). */
  add(entry: PopulationEntry & { readonly descriptor?: Descriptor | undefined }, code?: string): void {
    if (this.byId.has(entry.id)) return
    const root = entry.generation === 0
    const member: Member = root ? { ...entry, root: true } : { ...entry }
    this.byId.set(member.id, member)
    insertSorted(this.sorted, member)
    if (root) {
      for (const island of this.islands) this.join(island, island.index === 0 ? member : { ...member, island: island.index }, code)
    } else {
      const island = this.islands[member.island] ?? this.islands[member.island % this.islands.length]!
      this.join(island, member.island === island.index ? member : { ...member, island: island.index }, code)
    }
  }

  private join(island: Island, member: Member, code: string | undefined) {
    insertSorted(island.members, member)
    if (this.islands.length > 1) island.ids.add(member.id)
    const features = member.descriptor?.features
    if (island.grid && features) island.grid.add(member, features)
    if (this.directions.length > 0) {
      const v = this.vectorOf(member)
      if (v !== undefined) addToFront(island.front, { member, v, score: member.score }, FRONT_CAP)
    }
    if (this.needsReferenceCode) {
      const refs = island.references
      const k = this.options.referencePrograms
      if (refs.length < k || member.score > refs[refs.length - 1]!.score) {
        insertSorted(refs, { id: member.id, score: member.score, code })
        if (refs.length > k) refs.pop()
      }
    }
  }

  private placeMigrant(member: Member, origin: number, to: number): boolean {
    const island = this.islands[to]
    if (island === undefined || island.ids.has(member.id)) return false
    const copy: Member = { ...member, island: to, origin, root: undefined }
    this.join(island, copy, undefined)
    island.migrants.push(copy)
    // The reference set of the target may now miss the code of the copy; it is loaded lazily.
    return true
  }

  /** Remembers a failed evaluation (fix mode while its island has no scored program). */
  addFailure(entry: FailedEntry): void {
    const island = this.islands[entry.island] ?? this.islands[0]!
    island.addFailure(entry)
  }

  // ---- migration --------------------------------------------------------------------------

  /**
   * Ring migration: the best `migrationFraction` of each island's own programs are copied to
   * the next island (skipping programs already there). Returns the copies made.
   */
  migrate(): ReadonlyArray<Migration> {
    const n = this.islands.length
    if (n < 2) return []
    const planned: Array<{ member: Member; from: number; to: number }> = []
    for (const island of this.islands) {
      const natives = island.members.filter((m) => m.origin === undefined && !m.root)
      if (natives.length === 0) continue
      const k = Math.max(1, Math.ceil(this.options.migrationFraction * natives.length))
      const to = (island.index + 1) % n
      for (const m of natives.slice(0, k)) planned.push({ member: m, from: island.index, to })
    }
    const done: Array<Migration> = []
    for (const p of planned) {
      if (this.placeMigrant(p.member, p.from, p.to)) done.push({ id: p.member.id, from: p.from, to: p.to })
    }
    return done
  }

  /**
   * Adaptive search: copies the best program of the best island to island `to` (unless it is
   * already there). Returns the copy made, if any.
   */
  migrateBest(to: number): Migration | undefined {
    const best = this.sorted.find((m) => !m.root)
    if (best === undefined || this.islands.length < 2) return undefined
    const from = best.island % this.islands.length
    if (from === to % this.islands.length) return undefined
    return this.placeMigrant(best, from, to) ? { id: best.id, from, to } : undefined
  }

  // ---- sampling ---------------------------------------------------------------------------

  /** The island the next proposal is bred on (round robin). */
  private nextIsland(): Island {
    const island = this.islands[this.next % this.islands.length]!
    this.next = (this.next + 1) % this.islands.length
    return island
  }

  /**
   * A parent and inspirations from the next island; undefined when nothing was scored and
   * nothing failed yet (the engine then breeds from the initial program).
   */
  readonly sample: Effect.Effect<Sample | undefined> = this.sampleExploring(() => 0)

  /** `sample`, with a uniform parent pick at probability `explore(island)` (adaptive search). */
  sampleExploring(explore: (island: number) => number): Effect.Effect<Sample | undefined> {
    return Effect.suspend(() => this.sampleIsland(this.nextIsland(), explore))
  }

  private sampleIsland(island: Island, explore: (island: number) => number): Effect.Effect<Sample | undefined> {
    const pool = island.pool.length > 0 ? island.pool : island.members
    if (pool.length === 0) return Effect.succeed(fixSample(island, this.islands))
    const { options, uses } = this
    return Effect.gen(function*() {
      const { member, mode } = yield* pickParent(island, pool, options, uses, explore(island.index))
      uses.set(member.id, (uses.get(member.id) ?? 0) + 1)
      const inspirations = yield* inspirationsFor(island, pool, member, options)
      return { parent: member, inspirations: inspirations.members, inspirationKinds: inspirations.kinds, island: island.index, mode }
    })
  }

  /**
   * `sample` under a person's steering (issue 17). Pinned programs (those still scored and not
   * banned): the parent is one of them, bred on its own island. Banned programs are never the
   * parent; the island's pool is filtered for that (O(pool) per draw, only while a ban exists);
   * an island with nothing left breeds from the initial program (undefined).
   */
  sampleSteered(
    steer: { readonly pinned: ReadonlyArray<string>; readonly banned: ReadonlySet<string> },
    explore: (island: number) => number = () => 0
  ): Effect.Effect<Sample | undefined> {
    if (steer.pinned.length === 0 && steer.banned.size === 0) return this.sampleExploring(explore)
    return Effect.suspend(() => {
      const pinned = steer.pinned.flatMap((id) => {
        const m = this.byId.get(id)
        return m !== undefined && !steer.banned.has(id) ? [m] : []
      })
      return steeredSample(this.islands, pinned.length > 0 ? undefined : this.nextIsland(), pinned, steer.banned, this.options, this.uses, explore)
    })
  }
}
