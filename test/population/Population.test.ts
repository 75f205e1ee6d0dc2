import { describe, expect, it } from "@effect/vitest"
import { Effect, Random, Schema } from "effect"
import { ProgramId } from "../../src/domain/Ids.js"
import { PopulationConfig } from "../../src/domain/RunConfig.js"
import { type Member, optionsFromConfig, Population, type Sample, type SearchOptions } from "../../src/population/Population.js"
import { addToFront, dominates, type FrontEntry, frontOf } from "../../src/population/Pareto.js"
import { fitnessWeights, powerLawProbability, powerLawRank } from "../../src/population/Selection.js"

const options = (c: Partial<typeof PopulationConfig.Encoded> = {}): SearchOptions =>
  optionsFromConfig(Schema.decodeUnknownSync(PopulationConfig)(c))

const entry = (id: string, score: number, island = 0, generation = 1) => ({ id: ProgramId.make(id), score, island, generation })

/** `n` programs p0 (best) … p{n-1} on island 0 (generation ≥ 1, so none is the shared root). */
const ladder = (n: number, island = 0, prefix = "p") =>
  Array.from({ length: n }, (_, i) => entry(`${prefix}${i}`, n - i, island))

const draw = (population: Population, n: number, seed = 7) =>
  Effect.gen(function*() {
    const out: Array<Sample> = []
    for (let i = 0; i < n; i++) out.push((yield* population.sample)!)
    return out
  }).pipe(Effect.withRandom(Random.make(seed)))

const frequencies = (samples: ReadonlyArray<Sample>) => {
  const counts = new Map<string, number>()
  for (const s of samples) counts.set(s.parent.id, (counts.get(s.parent.id) ?? 0) + 1)
  return (id: string) => (counts.get(id) ?? 0) / samples.length
}

/** |observed − expected| within `k` binomial standard deviations. */
const close = (observed: number, expected: number, n: number, k = 4) =>
  expect(Math.abs(observed - expected)).toBeLessThanOrEqual(k * Math.sqrt((expected * (1 - expected)) / n) + 1e-9)

describe("selection strategies", () => {
  it.effect("power_law follows P(rank r) ∝ (r + 1)^-alpha", () =>
    Effect.gen(function*() {
      const n = 40
      const N = 20_000
      const counts = new Array<number>(n).fill(0)
      yield* Effect.forEach(Array.from({ length: N }), () => Effect.map(powerLawRank(n, 1.5), (r) => counts[r]!++), { discard: true })
      const total = Array.from({ length: n }, (_, r) => powerLawProbability(n, 1.5, r)).reduce((a, b) => a + b, 0)
      expect(total).toBeCloseTo(1, 9)
      for (const r of [0, 1, 2, 5, 10, 39]) close(counts[r]! / N, powerLawProbability(n, 1.5, r), N)
      // heavier on the top than uniform, and decreasing
      expect(counts[0]!).toBeGreaterThan(counts[1]!)
      expect(counts[1]!).toBeGreaterThan(counts[5]!)
    }).pipe(Effect.withRandom(Random.make(1))))

  it.effect("power_law through the population picks by rank", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(20), options({ selection: "power_law", power_law_alpha: 1 }))
      const samples = yield* draw(population, 10_000)
      const f = frequencies(samples)
      for (const r of [0, 3, 19]) close(f(`p${r}`), powerLawProbability(20, 1, r), samples.length)
      expect(samples.every((s) => s.mode === "exploit")).toBe(true)
    }))

  it.effect("hill_climb always breeds from the best", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(10), options({ selection: "hill_climb" }))
      const samples = yield* draw(population, 200)
      expect(new Set(samples.map((s) => s.parent.id))).toEqual(new Set(["p0"]))
    }))

  it.effect("beam draws uniformly from the best beam_width", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(30), options({ selection: "beam", beam_width: 4 }))
      const samples = yield* draw(population, 8000)
      const f = frequencies(samples)
      for (let i = 0; i < 4; i++) close(f(`p${i}`), 0.25, samples.length)
      expect(f("p4")).toBe(0)
    }))

  it.effect("uniform draws every member equally", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(10), options({ selection: "uniform" }))
      const samples = yield* draw(population, 10_000)
      const f = frequencies(samples)
      for (let i = 0; i < 10; i++) close(f(`p${i}`), 0.1, samples.length)
    }))

  it.effect("mix exploits with probability `exploitation` and explores uniformly otherwise", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(50), options({ selection: "mix", exploitation: 0.3, power_law_alpha: 2 }))
      const samples = yield* draw(population, 10_000)
      const exploit = samples.filter((s) => s.mode === "exploit").length / samples.length
      close(exploit, 0.3, samples.length)
      const f = frequencies(samples)
      // p0: 0.3 × power law + 0.7 × uniform
      close(f("p0"), 0.3 * powerLawProbability(50, 2, 0) + 0.7 / 50, samples.length)
      close(f("p49"), 0.3 * powerLawProbability(50, 2, 49) + 0.7 / 50, samples.length)
    }))

  it("fitness weights follow a sigmoid of the score, divided by a penalty for reuse", () => {
    const pool = [{ id: "a", score: 10 }, { id: "b", score: 5 }, { id: "c", score: 0 }]
    const fresh = fitnessWeights(pool, new Map(), 10, 1)
    expect(fresh[1]).toBeCloseTo(0.5, 9) // the median
    expect(fresh[0]!).toBeGreaterThan(0.99)
    expect(fresh[2]!).toBeLessThan(0.01)
    const used = fitnessWeights(pool, new Map([["a", 3]]), 10, 1)
    expect(used[0]).toBeCloseTo(fresh[0]! / 4, 9)
    expect(fitnessWeights(pool, new Map([["a", 3]]), 10, 0)[0]).toBeCloseTo(fresh[0]!, 9)
  })

  it.effect("fitness_weighted favours good programs and spreads over parents as they get used", () =>
    Effect.gen(function*() {
      const scores = [1, 0.95, 0.9, 0.5, 0.2, 0.1]
      const make = (penalty: number) =>
        new Population(scores.map((s, i) => entry(`p${i}`, s)), options({ selection: "fitness_weighted", reuse_penalty: penalty }))
      const noPenalty = frequencies(yield* draw(make(0), 6000))
      const penalised = frequencies(yield* draw(make(1), 6000))
      expect(noPenalty("p0")).toBeGreaterThan(noPenalty("p3"))
      expect(noPenalty("p3")).toBeGreaterThan(noPenalty("p5"))
      // With the penalty, weights equalise: the best is picked less, the weaker ones more.
      expect(penalised("p0")).toBeLessThan(noPenalty("p0"))
      expect(penalised("p5")).toBeGreaterThan(noPenalty("p5"))
    }))

  it.effect("inspirations are the island's best others plus diverse ones, never the parent", () =>
    Effect.gen(function*() {
      const population = new Population(ladder(20), options({ selection: "uniform", inspirations: { top: 2, diverse: 2 } }))
      for (const s of yield* draw(population, 300)) {
        const ids = s.inspirations.map((m) => m.id)
        expect(ids).not.toContain(s.parent.id)
        expect(new Set(ids).size).toBe(ids.length)
        expect(ids.length).toBe(4)
        const top = ["p0", "p1", "p2"].filter((id) => id !== s.parent.id).slice(0, 2)
        expect(ids.slice(0, 2)).toEqual(top)
      }
    }))

  it.effect("is reproducible: the same seed gives the same draws", () =>
    Effect.gen(function*() {
      const make = () => new Population(ladder(100), options({ selection: "fitness_weighted" }))
      const a = (yield* draw(make(), 200, 5)).map((s) => [s.parent.id, ...s.inspirations.map((m) => m.id)].join())
      const b = (yield* draw(make(), 200, 5)).map((s) => [s.parent.id, ...s.inspirations.map((m) => m.id)].join())
      const c = (yield* draw(make(), 200, 6)).map((s) => [s.parent.id, ...s.inspirations.map((m) => m.id)].join())
      expect(a).toEqual(b)
      expect(a).not.toEqual(c)
    }))
})

describe("fix mode", () => {
  it.effect("with nothing scored, breeds from the failure that got furthest (most recent first)", () =>
    Effect.gen(function*() {
      const population = new Population([], options())
      expect(yield* population.sample).toBeUndefined()
      population.addFailure({ id: ProgramId.make("crash1"), island: 0, generation: 0, kind: "evaluator_error" })
      population.addFailure({ id: ProgramId.make("metrics1"), island: 0, generation: 1, kind: "bad_metrics" })
      population.addFailure({ id: ProgramId.make("crash2"), island: 0, generation: 2, kind: "evaluator_error" })
      population.addFailure({ id: ProgramId.make("metrics2"), island: 0, generation: 2, kind: "bad_metrics" })
      const s = (yield* population.sample)!
      expect(s.mode).toBe("fix")
      expect(s.parent.id).toBe("metrics2")
      expect(s.inspirations).toEqual([])
      // Once something scores, the island leaves fix mode.
      population.add(entry("ok", 0.5, 0, 0))
      expect((yield* population.sample)!.mode).not.toBe("fix")
    }).pipe(Effect.withRandom(Random.make(1))))
})

describe("islands and migration", () => {
  const three = () => {
    const population = new Population([], options({ islands: 3, migration_fraction: 0.25, selection: "uniform" }))
    population.add(entry("root", 0, 0, 0))
    for (let isl = 0; isl < 3; isl++) for (const e of ladder(8, isl, `i${isl}_p`)) population.add(e)
    return population
  }
  const islandOf = (id: string) => (id === "root" ? -1 : Number(/^i(\d)_/.exec(id)![1]))

  it.effect("an island's parents and inspirations come only from that island (plus the shared initial program)", () =>
    Effect.gen(function*() {
      const population = three()
      const samples = yield* draw(population, 600)
      const islands = samples.map((s) => s.island)
      expect(islands.slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2]) // round robin
      for (const s of samples) {
        for (const id of [s.parent.id, ...s.inspirations.map((m) => m.id)]) {
          expect([s.island, -1]).toContain(islandOf(id))
        }
      }
    }))

  it.effect("ring migration copies the top fraction to the next island; copies never migrate again", () =>
    Effect.gen(function*() {
      const population = three()
      const first = population.migrate()
      // ceil(0.25 × 8) = 2 best natives of each island go to the next one.
      expect(first.map((m) => `${m.id}:${m.from}->${m.to}`).sort()).toEqual(
        ["i0_p0:0->1", "i0_p1:0->1", "i1_p0:1->2", "i1_p1:1->2", "i2_p0:2->0", "i2_p1:2->0"]
      )
      // Migrating again copies nothing: the same programs are already there, copies do not move on.
      expect(population.migrate()).toEqual([])
      // A new best on island 0 migrates; nothing from island 0 ever reaches island 2.
      population.add(entry("i0_new", 100, 0))
      expect(population.migrate().map((m) => `${m.id}:${m.to}`)).toEqual(["i0_new:1"])
      const onIsland2 = population.islandMembers(2).map((m) => m.id)
      expect(onIsland2.filter((id) => id.startsWith("i0_"))).toEqual([])
      const copies = population.islandMembers(1).filter((m) => m.origin !== undefined)
      expect(copies.map((m) => [m.id, m.origin, m.island])).toEqual([["i0_new", 0, 1], ["i0_p0", 0, 1], ["i0_p1", 0, 1]])
      // Island 1 now breeds from its own programs and the migrants only.
      const samples = (yield* draw(population, 900)).filter((s) => s.island === 1)
      const seen = new Set<string>(samples.flatMap((s) => [s.parent.id, ...s.inspirations.map((m) => m.id)]))
      for (const id of seen) expect(id === "root" || id.startsWith("i1_") || ["i0_new", "i0_p0", "i0_p1"].includes(id)).toBe(true)
      expect(seen.has("i0_new")).toBe(true)
      // Migrants show up as diverse inspirations.
      expect(samples.some((s) => s.inspirations.some((m) => m.origin === 0))).toBe(true)
    }))

  it("restores migrants and island membership from stored records", () => {
    const population = new Population(
      [entry("root", 0, 0, 0), entry("a", 5, 0), entry("b", 3, 1)],
      options({ islands: 2 }),
      { migrants: [{ programId: ProgramId.make("a"), island: 1, origin: 0 }] }
    )
    expect(population.size).toBe(3)
    expect(population.islandMembers(1).map((m) => m.id)).toEqual(["a", "b", "root"])
    expect(population.islandMembers(0).map((m) => m.id)).toEqual(["a", "root"])
    // a is already on island 1; only b's copy goes (to island 0)
    expect(population.migrate().map((m) => `${m.id}:${m.from}->${m.to}`)).toEqual(["b:1->0"])
  })
})

describe("MAP-Elites grid", () => {
  const gridOptions = options({
    selection: "uniform",
    map_elites: { features: [{ name: "x", bins: 4, min: 0, max: 1 }, { name: "y", bins: 2, min: 0, max: 10 }] }
  })
  const withFeatures = (id: string, score: number, x: number, y: number): Member & { descriptor: { features: Array<number> } } => ({
    ...entry(id, score),
    descriptor: { features: [x, y] }
  })

  it("places programs by binned features and keeps the best per cell", () => {
    const population = new Population([], gridOptions)
    const grid = population.grid(0)!
    population.add(withFeatures("a", 1, 0.1, 1)) // bins (0, 0)
    population.add(withFeatures("b", 2, 0.2, 2)) // same cell, better: replaces a
    population.add(withFeatures("c", 0.5, 0.24, 4)) // same cell, worse: stays out of the grid
    population.add(withFeatures("d", 0.1, 0.99, 9)) // bins (3, 1)
    population.add(withFeatures("e", 9, 1.0, 10)) // the maximum falls in the last bin: replaces d
    population.add(withFeatures("f", 3, 0.5, 5)) // bins (2, 1)
    population.add({ ...entry("g", 99), descriptor: { features: [Number.NaN, 1] } }) // missing feature: not placed
    expect(grid.coordinates(grid.cellOf([0.1, 1]))).toEqual([0, 0])
    expect(grid.coordinates(grid.cellOf([0.5, 5]))).toEqual([2, 1])
    expect(grid.coordinates(grid.cellOf([-3, 30]))).toEqual([0, 1]) // clamped to the fixed range
    expect(grid.occupied).toBe(3)
    expect(grid.elites.map((m) => m.id)).toEqual(["e", "f", "b"])
    expect(grid.eliteAt(grid.cellOf([0.15, 0]))!.id).toBe("b")
    // Every program stays a member of the island; parents come from the elites only.
    expect(population.islandSize(0)).toBe(7)
  })

  it.effect("draws parents from the elites only", () =>
    Effect.gen(function*() {
      const population = new Population([], gridOptions)
      for (const [id, s, x, y] of [["a", 1, 0.1, 1], ["b", 2, 0.2, 2], ["d", 0.1, 0.9, 9], ["e", 9, 0.95, 9.5]] as const) {
        population.add(withFeatures(id, s, x, y))
      }
      const parents = new Set((yield* draw(population, 300)).map((s) => s.parent.id))
      expect(parents).toEqual(new Set(["b", "e"]))
    }))

  it("min-max scales a dimension without fixed bounds and re-bins when the range grows", () => {
    const withFeatures = (id: string, score: number, x: number, _y: number) => ({ ...entry(id, score), descriptor: { features: [x] } })
    const population = new Population(
      [],
      options({ map_elites: { features: [{ name: "x", bins: 10 }] } })
    )
    const grid = population.grid(0)!
    population.add(withFeatures("a", 1, 5, 0))
    expect(grid.occupied).toBe(1)
    population.add(withFeatures("b", 2, 15, 0))
    population.add(withFeatures("c", 3, 10, 0))
    expect(grid.occupied).toBe(3)
    expect(grid.rebuilds).toBeGreaterThan(0)
    // a, c, b sit in the first, a middle and the last bin of the observed range
    expect(grid.binOf(0, 5)).toBe(0)
    expect(grid.binOf(0, 10)).toBeGreaterThan(2)
    expect(grid.binOf(0, 10)).toBeLessThan(7)
    expect(grid.binOf(0, 15)).toBe(9)
    // Loading a run with all values at once re-bins nothing.
    const loaded = new Population(
      [withFeatures("a", 1, 5, 0), withFeatures("b", 2, 15, 0), withFeatures("c", 3, 10, 0)],
      options({ map_elites: { features: [{ name: "x", bins: 10 }] } })
    )
    expect(loaded.grid(0)!.rebuilds).toBe(0)
    expect(loaded.grid(0)!.occupied).toBe(3)
  })

  it.effect("diverse inspirations come from other cells", () =>
    Effect.gen(function*() {
      const population = new Population(
        [],
        options({
          selection: "hill_climb",
          inspirations: { top: 0, diverse: 2 },
          map_elites: { features: [{ name: "x", bins: 4, min: 0, max: 1 }] }
        })
      )
      const add = (id: string, score: number, x: number) => population.add({ ...entry(id, score), descriptor: { features: [x] } })
      add("best", 10, 0.1)
      add("sameCellWorse", 5, 0.15) // not an elite
      add("other1", 1, 0.4)
      add("other2", 2, 0.9)
      for (const s of yield* draw(population, 50)) {
        expect(s.parent.id).toBe("best")
        expect(new Set(s.inspirations.map((m) => m.id))).toEqual(new Set(["other1", "other2"]))
      }
    }))

  it("describes programs with metrics and the built-in code length and edit distance", () => {
    const population = new Population(
      [],
      options({
        map_elites: { features: [{ name: "code_length" }, { name: "edit_distance" }, { name: "speed" }] },
        objectives: [{ metric: "speed", direction: "minimize" }]
      })
    )
    const first = population.describe(0, "x = 1\n", { speed: 3 })
    expect(first.features).toEqual([6, 0, 3])
    expect(first.objectives).toEqual([3])
    population.add({ ...entry("a", 1), descriptor: first }, "x = 1\n")
    const second = population.describe(0, "x = 2\ny = 3\n", {})
    expect(second.features![0]).toBe(12)
    expect(second.features![1]).toBe(5) // "1" → "2", plus "y", "=", "3"
    expect(Number.isNaN(second.features![2])).toBe(true)
  })
})

describe("Pareto front", () => {
  const multi = options({
    selection: "hill_climb",
    pareto_share: 1,
    objectives: [{ metric: "accuracy", direction: "maximize" }, { metric: "latency", direction: "minimize" }]
  })
  const point = (id: string, accuracy: number, latency: number) => ({
    ...entry(id, accuracy),
    descriptor: { objectives: [accuracy, latency] }
  })

  it("keeps exactly the non-dominated programs as they arrive", () => {
    const population = new Population([], multi)
    const front = () => population.islandFront(0).map((m) => m.id).sort()
    population.add(point("a", 0.5, 10))
    expect(front()).toEqual(["a"])
    population.add(point("b", 0.6, 20)) // better accuracy, worse latency: both stay
    expect(front()).toEqual(["a", "b"])
    population.add(point("c", 0.4, 15)) // dominated by a
    expect(front()).toEqual(["a", "b"])
    population.add(point("d", 0.7, 5)) // dominates a and b
    expect(front()).toEqual(["d"])
    population.add(point("e", 0.7, 5)) // equal to d: kept side by side
    population.add(point("f", 0.2, 1)) // fastest
    expect(front()).toEqual(["d", "e", "f"])
    population.add({ ...entry("g", 9), descriptor: { objectives: [0.9, Number.NaN] } }) // incomplete: never on the front
    expect(front()).toEqual(["d", "e", "f"])
    expect(population.paretoFront().map((m) => m.id).sort()).toEqual(["d", "e", "f"])
  })

  it.effect("pareto_share draws parents from the front", () =>
    Effect.gen(function*() {
      const population = new Population([point("a", 0.5, 10), point("b", 0.6, 20), point("c", 0.4, 15)], multi)
      const samples = yield* draw(population, 400)
      expect(samples.every((s) => s.mode === "pareto")).toBe(true)
      const f = frequencies(samples)
      expect(f("c")).toBe(0)
      close(f("a"), 0.5, samples.length)
    }))
})

describe("Pareto helpers", () => {
  it.effect("the incremental front equals the one-sweep front and the brute-force one", () =>
    Effect.gen(function*() {
      for (let trial = 0; trial < 20; trial++) {
        const points = yield* Effect.forEach(Array.from({ length: 60 }), (_, i) =>
          Effect.map(Effect.all([Random.nextIntBetween(0, 8), Random.nextIntBetween(0, 8), Random.nextIntBetween(0, 8)]), (v) => ({
            member: `m${i}`,
            v,
            score: i
          })))
        const incremental: Array<FrontEntry<string>> = []
        for (const p of points) addToFront(incremental, p)
        const sweep = frontOf(points)
        const brute = points.filter((p) => !points.some((q) => dominates(q.v, p.v)))
        const ids = (xs: ReadonlyArray<FrontEntry<string>>) => xs.map((x) => x.member).sort()
        expect(ids(incremental)).toEqual(ids(brute))
        expect(ids(sweep)).toEqual(ids(brute))
      }
    }).pipe(Effect.withRandom(Random.make(9))))
})
