/**
 * What the web UI's explorer reads (and the little it writes): every program of a run as light
 * facts (lineage, timeline, islands), program pages filtered and sorted by any column or metric,
 * evaluations with their metrics, MAP-Elites descriptors, LLM calls over time, archived runs,
 * deleting a run, and the LLM transcripts of proposals. Portable SQL only (DESIGN §8): sorting
 * by a metric and reading JSON happen here in code, not with a database's JSON functions.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import { Context, Effect, Layer } from "effect"
import type { DatabaseError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { ProgramStatus } from "../domain/Program.js"
import type { ProgramSummary, Transcript } from "./Records.js"
import { dbError, type Int8, int, intOrNull, type ProgramRow, summaryColumns, toSummary, transaction } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

/** A program without code or metrics: enough to draw it in a graph or a timeline. */
export interface ProgramFacts {
  readonly id: string
  readonly parentId: string | null
  readonly island: number
  readonly generation: number
  readonly status: ProgramStatus
  readonly score: number | null
  readonly failureKind: string | null
  /** When the candidate was stored, just after its LLM call returned. */
  readonly createdAt: number
  readonly llmLatencyMs: number | null
  readonly evaluatedAt: number | null
  readonly evalMs: number | null
  readonly model: string | null
  readonly usd: number | null
}

export type ProgramSort = "score" | "time" | "generation" | "cost" | "eval_ms" | "llm_ms" | "island" | `metric:${string}`

export interface ProgramFilter {
  readonly status?: ProgramStatus | undefined
  readonly island?: number | undefined
  readonly model?: string | undefined
  readonly failureKind?: string | undefined
  /** Programs whose code contains this text (case-insensitive). */
  readonly text?: string | undefined
}

export interface ProgramListQuery extends ProgramFilter {
  readonly sort: ProgramSort
  readonly order: "asc" | "desc"
  readonly limit: number
  readonly offset: number
}

/** A finished evaluation with its metrics (scored or failed in the evaluator). */
export interface EvaluationRow {
  readonly id: string
  readonly evaluatedAt: number
  readonly score: number | null
  readonly status: ProgramStatus
  readonly metrics: Readonly<Record<string, number>> | null
}

export interface DescriptorRow {
  readonly id: string
  readonly island: number
  readonly score: number
  readonly descriptor: string
}

export interface LlmCallTime {
  readonly model: string
  readonly createdAt: number
  readonly latencyMs: number
  readonly outcome: "ok" | "error"
  readonly usd: number
}

export class ExploreQueries extends Context.Tag("evolve/ExploreQueries")<ExploreQueries, {
  /** Every program of the run (failed and rejected too), oldest first. */
  readonly programFacts: (runId: RunId) => Effect.Effect<ReadonlyArray<ProgramFacts>, DatabaseError>
  readonly listPrograms: (
    runId: RunId,
    query: ProgramListQuery
  ) => Effect.Effect<{ readonly total: number; readonly items: ReadonlyArray<ProgramSummary> }, DatabaseError>
  /** The names of the metrics the run's programs report (its latest 500 with metrics), sorted. */
  readonly metricNames: (runId: RunId) => Effect.Effect<ReadonlyArray<string>, DatabaseError>
  /** Finished evaluations with their metrics, in time order. */
  readonly evaluations: (runId: RunId) => Effect.Effect<ReadonlyArray<EvaluationRow>, DatabaseError>
  /** Scored programs with a MAP-Elites / objectives descriptor. */
  readonly descriptors: (runId: RunId) => Effect.Effect<ReadonlyArray<DescriptorRow>, DatabaseError>
  readonly llmCallTimes: (runId: RunId) => Effect.Effect<ReadonlyArray<LlmCallTime>, DatabaseError>
  /** Migrant copies living on each island. */
  readonly migrantsByIsland: (runId: RunId) => Effect.Effect<ReadonlyMap<number, number>, DatabaseError>
  readonly archivedRuns: Effect.Effect<ReadonlySet<string>, DatabaseError>
  readonly setArchived: (runId: RunId, archived: boolean) => Effect.Effect<void, DatabaseError>
  /** Deletes the run and everything stored about it, in one transaction. */
  readonly deleteRun: (runId: RunId) => Effect.Effect<void, DatabaseError>
  readonly transcripts: (programId: string) => Effect.Effect<ReadonlyArray<Transcript>, DatabaseError>
}>() {}

type FactsRow = {
  id: string
  parent_id: string | null
  island: number
  generation: number
  status: string
  score: number | null
  failure_kind: string | null
  created_at: Int8
  llm_latency_ms: number | null
  evaluated_at: Int8 | null
  eval_ms: number | null
  llm_model: string | null
  llm_usd: number | null
}

const metricSample = 500

const sortColumns: Record<Exclude<ProgramSort, `metric:${string}`>, string> = {
  score: "score",
  time: "created_at",
  generation: "generation",
  cost: "llm_usd",
  eval_ms: "eval_ms",
  llm_ms: "llm_latency_ms",
  island: "island"
}

const parseMetrics = (text: string | null): Record<string, number> | null => {
  if (text === null) return null
  try {
    const value = JSON.parse(text) as unknown
    return typeof value === "object" && value !== null ? value as Record<string, number> : null
  } catch {
    return null
  }
}

/** `text` as a LIKE pattern that matches it anywhere, with the wildcards in it escaped. */
const containsPattern = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const whereOf = (runId: RunId, f: ProgramFilter): Statement.Fragment =>
    sql.and([
      sql`run_id = ${runId}`,
      ...(f.status !== undefined ? [sql`status = ${f.status}`] : []),
      ...(f.island !== undefined ? [sql`island = ${f.island}`] : []),
      ...(f.model !== undefined ? [sql`llm_model = ${f.model}`] : []),
      ...(f.failureKind !== undefined ? [sql`failure_kind = ${f.failureKind}`] : []),
      ...(f.text !== undefined && f.text !== "" ? [containsText(containsPattern(f.text))] : [])
    ])

  // A multi-file program's files are blobs (db/ProgramTrees.ts): it matches when one of the files
  // its manifest (a JSON list of paths and file hashes) names does.
  const containsText = (pattern: string) =>
    sql`(LOWER(code) LIKE ${pattern} ESCAPE '\\' OR (tree IS NOT NULL AND tree IN (
      SELECT m.hash FROM blobs m, blobs f WHERE LOWER(f.content) LIKE ${pattern} ESCAPE '\\' AND m.content LIKE '%"' || f.hash || '"%')))`

  const summariesByIds = (ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      if (ids.length === 0) return []
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE id IN ${sql.in(ids as Array<string>)}`
      const byId = new Map(rows.map((r) => [r.id, r]))
      return ids.flatMap((id) => {
        const row = byId.get(id)
        return row === undefined ? [] : [toSummary(row)]
      })
    })

  /** Sorted by a metric: the candidates' metrics are read and ordered here (missing values last). */
  const byMetric = (where: Statement.Fragment, metric: string, q: ProgramListQuery) =>
    Effect.gen(function*() {
      const rows = yield* sql<{ id: string; metrics: string | null; created_at: Int8 }>`
        SELECT id, metrics, created_at FROM programs WHERE ${where}`
      const dir = q.order === "asc" ? 1 : -1
      const keyed = rows.map((r) => {
        const v = parseMetrics(r.metrics)?.[metric]
        return { id: r.id, at: int(r.created_at), v: typeof v === "number" && Number.isFinite(v) ? v : null }
      })
      keyed.sort((a, b) =>
        a.v === null || b.v === null
          ? (a.v === null ? 1 : 0) - (b.v === null ? 1 : 0) || dir * (a.at - b.at)
          : dir * (a.v - b.v) || dir * (a.at - b.at) || (a.id < b.id ? -dir : dir)
      )
      const ids = keyed.slice(q.offset, q.offset + q.limit).map((k) => k.id)
      return { total: rows.length, items: yield* summariesByIds(ids) }
    })

  return ExploreQueries.of({
    programFacts: Traced.fn("ExploreQueries.programFacts")(function*(runId) {
      const rows = yield* sql<FactsRow>`SELECT id, parent_id, island, generation, status, score, failure_kind,
          created_at, llm_latency_ms, evaluated_at, eval_ms, llm_model, llm_usd
        FROM programs WHERE run_id = ${runId} ORDER BY created_at, id`
      return rows.map((r): ProgramFacts => ({
        id: r.id,
        parentId: r.parent_id,
        island: r.island,
        generation: r.generation,
        status: r.status as ProgramStatus,
        score: r.score,
        failureKind: r.failure_kind,
        createdAt: int(r.created_at),
        llmLatencyMs: r.llm_latency_ms,
        evaluatedAt: intOrNull(r.evaluated_at),
        evalMs: r.eval_ms,
        model: r.llm_model,
        usd: r.llm_usd
      }))
    }, (effect) => Effect.mapError(effect, dbError("read program facts"))),

    listPrograms: Traced.fn("ExploreQueries.listPrograms")(function*(runId, q) {
      const where = whereOf(runId, q)
      if (q.sort.startsWith("metric:")) return yield* byMetric(where, q.sort.slice("metric:".length), q)
      const column = sortColumns[q.sort as keyof typeof sortColumns] ?? "created_at"
      const dir = q.order === "asc" ? "ASC" : "DESC"
      // NULLs last in both directions, the same on every database.
      const order = sql.unsafe(`CASE WHEN ${column} IS NULL THEN 1 ELSE 0 END, ${column} ${dir}, created_at ${dir}, id ${dir}`)
      const total = yield* sql<{ n: Int8 }>`SELECT COUNT(*) AS n FROM programs WHERE ${where}`
      const rows = yield* sql<ProgramRow>`SELECT ${summaryColumns} FROM programs WHERE ${where}
        ORDER BY ${order} LIMIT ${q.limit} OFFSET ${q.offset}`
      return { total: int(total[0]?.n ?? 0), items: rows.map(toSummary) }
    }, (effect) => Effect.mapError(effect, dbError("list programs"))),

    metricNames: Traced.fn("ExploreQueries.metricNames")(function*(runId) {
      const rows = yield* sql<{ metrics: string }>`SELECT metrics FROM programs WHERE run_id = ${runId} AND metrics IS NOT NULL
        ORDER BY created_at DESC LIMIT ${metricSample}`
      const names = new Set<string>()
      for (const r of rows) for (const k of Object.keys(parseMetrics(r.metrics) ?? {})) names.add(k)
      return [...names].sort()
    }, (effect) => Effect.mapError(effect, dbError("read metric names"))),

    evaluations: Traced.fn("ExploreQueries.evaluations")(function*(runId) {
      const rows = yield* sql<{ id: string; evaluated_at: Int8; score: number | null; status: string; metrics: string | null }>`
        SELECT id, evaluated_at, score, status, metrics FROM programs
        WHERE run_id = ${runId} AND evaluated_at IS NOT NULL ORDER BY evaluated_at, id`
      return rows.map((r) => ({
        id: r.id,
        evaluatedAt: int(r.evaluated_at),
        score: r.score,
        status: r.status as ProgramStatus,
        metrics: parseMetrics(r.metrics)
      }))
    }, (effect) => Effect.mapError(effect, dbError("read evaluations"))),

    descriptors: Traced.fn("ExploreQueries.descriptors")(function*(runId) {
      const rows = yield* sql<DescriptorRow>`SELECT id, island, score, descriptor FROM programs
        WHERE run_id = ${runId} AND status = 'evaluated' AND descriptor IS NOT NULL AND score IS NOT NULL
        ORDER BY created_at, id`
      return rows
    }, (effect) => Effect.mapError(effect, dbError("read descriptors"))),

    llmCallTimes: Traced.fn("ExploreQueries.llmCallTimes")(function*(runId) {
      const rows = yield* sql<{ model: string; created_at: Int8; latency_ms: number; outcome: string; usd: number }>`
        SELECT model, created_at, latency_ms, outcome, usd FROM llm_calls WHERE run_id = ${runId} ORDER BY created_at, id`
      return rows.map((r) => ({
        model: r.model,
        createdAt: int(r.created_at),
        latencyMs: r.latency_ms,
        outcome: r.outcome === "error" ? "error" as const : "ok" as const,
        usd: r.usd
      }))
    }, (effect) => Effect.mapError(effect, dbError("read LLM calls"))),

    migrantsByIsland: Traced.fn("ExploreQueries.migrantsByIsland")(function*(runId) {
      const rows = yield* sql<{ island: number; n: Int8 }>`SELECT island, COUNT(*) AS n FROM migrants
        WHERE run_id = ${runId} GROUP BY island`
      return new Map(rows.map((r) => [r.island, int(r.n)]))
    }, (effect) => Effect.mapError(effect, dbError("read migrants"))),

    archivedRuns: sql<{ id: string }>`SELECT id FROM runs WHERE archived = 1`.pipe(
      Effect.map((rows) => new Set(rows.map((r) => r.id))),
      Effect.mapError(dbError("read archived runs")),
      Effect.withSpan("ExploreQueries.archivedRuns")
    ),

    setArchived: Traced.fn("ExploreQueries.setArchived")(function*(runId, archived) {
      yield* sql`UPDATE runs SET archived = ${archived ? 1 : 0} WHERE id = ${runId}`.pipe(Effect.mapError(dbError("archive run")))
    }),

    deleteRun: Traced.fn("ExploreQueries.deleteRun")(function*(runId) {
      yield* transaction(sql, "delete run")(Effect.gen(function*() {
        yield* sql`DELETE FROM program_transcripts WHERE run_id = ${runId}`
        yield* sql`DELETE FROM migrants WHERE run_id = ${runId}`
        yield* sql`DELETE FROM run_events WHERE run_id = ${runId}`
        yield* sql`DELETE FROM steering WHERE run_id = ${runId}`
        yield* sql`DELETE FROM search_decisions WHERE run_id = ${runId}`
        yield* sql`DELETE FROM run_evaluator_files WHERE run_id = ${runId}`
        yield* sql`DELETE FROM run_evaluators WHERE run_id = ${runId}`
        yield* sql`DELETE FROM llm_calls WHERE run_id = ${runId}`
        yield* sql`DELETE FROM programs WHERE run_id = ${runId}`
        yield* sql`DELETE FROM runs WHERE id = ${runId}`
      }))
    }),

    transcripts: Traced.fn("ExploreQueries.transcripts")(function*(programId) {
      const rows = yield* sql<{
        program_id: string
        run_id: string
        attempt: number
        model: string | null
        system_prompt: string
        user_prompt: string
        response: string | null
        created_at: Int8
      }>`SELECT * FROM program_transcripts WHERE program_id = ${programId} ORDER BY attempt`.pipe(
        Effect.mapError(dbError("read transcripts"))
      )
      return rows.map((r) => ({
        programId: r.program_id,
        runId: r.run_id,
        attempt: r.attempt,
        model: r.model,
        system: r.system_prompt,
        user: r.user_prompt,
        response: r.response,
        createdAt: int(r.created_at)
      }))
    })
  })
})

export const layer: Layer.Layer<ExploreQueries, never, SqlClient.SqlClient> = Layer.effect(ExploreQueries, make)
