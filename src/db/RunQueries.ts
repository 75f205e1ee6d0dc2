/** Read-only views for listings, the HTTP API and the CLI: run overviews, program pages, lineage, timelines, Pareto fronts. */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer } from "effect"
import { type DatabaseError, ProgramNotFound, RunNotFound } from "../domain/Errors.js"
import { ProgramId, type RunId } from "../domain/Ids.js"
import type { ProgramStatus } from "../domain/Program.js"
import type { Lineage, ParetoObjective, ProgramPage, ProgramQuery, ProgramSummary, RunOverview, ScorePoint } from "./Records.js"
import {
  dbError,
  type Int8,
  int,
  overviewColumns,
  type OverviewRow,
  type ProgramRow,
  summaryColumns,
  summaryColumnsOf,
  toOverview,
  toSummary
} from "./Rows.js"
import * as Traced from "../domain/Traced.js"

export class RunQueries extends Context.Tag("evolve/RunQueries")<RunQueries, {
  readonly listRuns: Effect.Effect<ReadonlyArray<RunOverview>, DatabaseError>
  readonly runOverview: (id: string) => Effect.Effect<RunOverview, DatabaseError | RunNotFound>
  readonly listPrograms: (runId: RunId, query: ProgramQuery) => Effect.Effect<ProgramPage, DatabaseError>
  /** Ancestors (up to `maxDepth`), the program and its children (up to `maxChildren`, best first). */
  readonly lineage: (id: string, maxDepth: number, maxChildren: number) => Effect.Effect<Lineage, DatabaseError | ProgramNotFound>
  /** Finished evaluations in time order (the latest `limit`). */
  readonly scoreTimeline: (runId: RunId, limit: number) => Effect.Effect<ReadonlyArray<ScorePoint>, DatabaseError>
  /** The non-dominated scored programs over `objectives` (programs missing an objective metric are left out). */
  readonly paretoFront: (runId: RunId, objectives: ReadonlyArray<ParetoObjective>) => Effect.Effect<ReadonlyArray<ProgramSummary>, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return RunQueries.of({
    listRuns: Effect.gen(function*() {
      const rows = yield* sql<OverviewRow>`SELECT r.*, ${overviewColumns} FROM runs r ORDER BY r.created_at DESC`.pipe(
        Effect.mapError(dbError("list runs"))
      )
      return rows.map(toOverview)
    }).pipe(Effect.withSpan("RunQueries.listRuns")),

    runOverview: Traced.fn("RunQueries.runOverview")(function*(id) {
      const rows = yield* sql<OverviewRow>`SELECT r.*, ${overviewColumns} FROM runs r WHERE r.id = ${id}`.pipe(
        Effect.mapError(dbError("read run"))
      )
      if (rows.length === 0) return yield* new RunNotFound({ runId: id })
      return toOverview(rows[0]!)
    }),

    listPrograms: Traced.fn("RunQueries.listPrograms")(function*(runId, q) {
      const where = sql.and([
        sql`run_id = ${runId}`,
        ...(q.status !== undefined ? [sql`status = ${q.status}`] : []),
        ...(q.island !== undefined ? [sql`island = ${q.island}`] : [])
      ])
      const dir = q.order === "asc" ? "ASC" : "DESC"
      const order = q.sort === "score"
        ? sql.unsafe(`(score IS NULL), score ${dir}, created_at ${dir}, id ${dir}`)
        : sql.unsafe(`created_at ${dir}, id ${dir}`)
      const total = yield* sql<{ n: Int8 }>`SELECT COUNT(*) AS n FROM programs WHERE ${where}`
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE ${where}
        ORDER BY ${order} LIMIT ${q.limit} OFFSET ${q.offset}`
      return { total: int(total[0]?.n ?? 0), items: rows.map(toSummary) }
    }, (effect) => Effect.mapError(effect, dbError("list programs"))),

    lineage: Traced.fn("RunQueries.lineage")(function*(id, maxDepth, maxChildren) {
      const chain = yield* sql<ProgramRow & { depth: number }>`WITH RECURSIVE chain(id, parent_id, depth) AS (
          SELECT id, parent_id, 0 FROM programs WHERE id = ${id}
          UNION ALL
          SELECT p.id, p.parent_id, c.depth + 1 FROM programs p JOIN chain c ON p.id = c.parent_id WHERE c.depth < ${maxDepth}
        )
        SELECT ${summaryColumnsOf("p")}, c.depth FROM chain c JOIN programs p ON p.id = c.id ORDER BY c.depth DESC`.pipe(
        Effect.mapError(dbError("read lineage"))
      )
      const self = chain.find((r) => r.depth === 0)
      if (self === undefined) return yield* new ProgramNotFound({ programId: id })
      const children = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE parent_id = ${id}
        ORDER BY (score IS NULL), score DESC, created_at LIMIT ${maxChildren}`.pipe(Effect.mapError(dbError("read lineage")))
      return {
        ancestors: chain.filter((r) => r.depth > 0).map(toSummary),
        program: toSummary(self),
        children: children.map(toSummary)
      }
    }),

    scoreTimeline: Traced.fn("RunQueries.scoreTimeline")(function*(runId, limit) {
      const rows = yield* sql<{ id: string; evaluated_at: Int8; score: number | null; status: string }>`
        SELECT id, evaluated_at, score, status FROM (
          SELECT id, evaluated_at, score, status FROM programs
          WHERE run_id = ${runId} AND evaluated_at IS NOT NULL ORDER BY evaluated_at DESC, id DESC LIMIT ${limit}
        ) t ORDER BY evaluated_at, id`.pipe(Effect.mapError(dbError("read score timeline")))
      return rows.map((r) => ({ programId: ProgramId.make(r.id), at: int(r.evaluated_at), score: r.score, status: r.status as ProgramStatus }))
    }),

    paretoFront: Traced.fn("RunQueries.paretoFront")(function*(runId, objectives) {
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs
        WHERE run_id = ${runId} AND status = 'evaluated' ORDER BY score DESC, created_at, id`.pipe(
        Effect.mapError(dbError("read Pareto front"))
      )
      // Oriented so that larger is better; a program missing a metric is left out.
      const points: Array<{ row: ProgramRow; v: Array<number> }> = []
      for (const row of rows) {
        const metrics = row.metrics === null ? {} : JSON.parse(row.metrics) as Record<string, unknown>
        const v = objectives.map((o) => {
          const x = metrics[o.metric]
          return typeof x === "number" && Number.isFinite(x) ? (o.direction === "minimize" ? -x : x) : Number.NaN
        })
        if (v.every(Number.isFinite)) points.push({ row, v })
      }
      const dominates = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
        a.every((x, i) => x >= b[i]!) && a.some((x, i) => x > b[i]!)
      // Sorted by the first objective (best first), a point can only be dominated by earlier ones.
      points.sort((a, b) => b.v[0]! - a.v[0]! || b.v.slice(1).reduce((s, x, i) => s + x - a.v[i + 1]!, 0))
      const front: Array<{ row: ProgramRow; v: Array<number> }> = []
      for (const p of points) if (!front.some((f) => dominates(f.v, p.v))) front.push(p)
      return front.map((f) => toSummary(f.row))
    })
  })
})

export const layer: Layer.Layer<RunQueries, never, SqlClient.SqlClient> = Layer.effect(RunQueries, make)
