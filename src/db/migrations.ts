import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { columnTypes } from "./ColumnTypes.js"

/**
 * Schema history, the same on SQLite and Postgres (DESIGN §8): portable SQL only, column types
 * from `columnTypes` (ColumnTypes.ts), app-generated text ids, integer millisecond timestamps,
 * JSON as text.
 */
export const migrations = {
  "0001_init": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE runs (
      id ${t.text} PRIMARY KEY,
      created_at ${t.bigint} NOT NULL,
      updated_at ${t.bigint} NOT NULL,
      status ${t.text} NOT NULL,
      stop_reason ${t.text},
      spec ${t.text} NOT NULL
    )`
    yield* sql`CREATE TABLE programs (
      id ${t.text} PRIMARY KEY,
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      parent_id ${t.text},
      island ${t.int} NOT NULL,
      generation ${t.int} NOT NULL,
      code ${t.text} NOT NULL,
      code_hash ${t.text} NOT NULL,
      patch ${t.text},
      status ${t.text} NOT NULL,
      metrics ${t.text},
      score ${t.double},
      failure_kind ${t.text},
      failure_message ${t.text},
      feedback ${t.text},
      created_at ${t.bigint} NOT NULL,
      evaluated_at ${t.bigint},
      eval_ms ${t.double},
      llm_model ${t.text},
      llm_input_tokens ${t.int},
      llm_output_tokens ${t.int},
      llm_usd ${t.double},
      llm_latency_ms ${t.double},
      llm_attempts ${t.int}
    )`
    yield* sql`CREATE INDEX programs_by_run_status ON programs (run_id, status)`
    yield* sql`CREATE INDEX programs_by_run_score ON programs (run_id, score)`
    yield* sql`CREATE INDEX programs_by_parent ON programs (parent_id)`
    yield* sql`CREATE TABLE llm_calls (
      id ${t.text} PRIMARY KEY,
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      program_id ${t.text},
      model ${t.text} NOT NULL,
      input_tokens ${t.int} NOT NULL,
      output_tokens ${t.int} NOT NULL,
      usd ${t.double} NOT NULL,
      latency_ms ${t.double} NOT NULL,
      attempts ${t.int} NOT NULL,
      outcome ${t.text} NOT NULL,
      error_kind ${t.text},
      error_message ${t.text},
      created_at ${t.bigint} NOT NULL
    )`
    yield* sql`CREATE INDEX llm_calls_by_run ON llm_calls (run_id, model)`
  }),
  // ---- evolve serve (src/server, src/engine/RunManager.ts) ----
  /** Each run's RunEvents, numbered per run (SSE event ids), and which host (e.g. "serve") drives a run. */
  "0002_run_events": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE run_events (
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      seq ${t.int} NOT NULL,
      at ${t.bigint} NOT NULL,
      type ${t.text} NOT NULL,
      data ${t.text} NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`
    yield* sql`ALTER TABLE runs ADD COLUMN host ${t.text}`
    yield* sql`CREATE INDEX programs_by_run_evaluated ON programs (run_id, evaluated_at)`
  }),
  // ---- LLM response cache (src/db/LlmCacheStore.ts, issue 4) ----
  /** Answers to temperature-0 requests, keyed by a hash of model + messages + params. IF NOT EXISTS: LlmCache may create it first. */
  "0003_llm_cache": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE IF NOT EXISTS llm_cache (
      key ${t.text} PRIMARY KEY,
      model ${t.text} NOT NULL,
      reply ${t.text} NOT NULL,
      created_at ${t.bigint} NOT NULL
    )`
  }),
  // ---- search: islands, MAP-Elites, objectives (src/population, issue 5) ----
  /**
   * `programs.descriptor`: JSON of the MAP-Elites feature values and objective values computed
   * when the program was scored. `migrants`: copies of programs on other islands (ring
   * migration); the program row keeps its own island, the copy lives on `island`.
   */
  "0004_search_population": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`ALTER TABLE programs ADD COLUMN descriptor ${t.text}`
    yield* sql`CREATE TABLE migrants (
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      program_id ${t.text} NOT NULL,
      island ${t.int} NOT NULL,
      origin_island ${t.int} NOT NULL,
      migrated_at ${t.bigint} NOT NULL,
      PRIMARY KEY (run_id, program_id, island)
    )`
  }),
  "0005_covering_indexes": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Resume reads only these columns: covering indexes keep it off the code-carrying rows.
    yield* sql`DROP INDEX programs_by_run_status`
    yield* sql`DROP INDEX programs_by_run_score`
    yield* sql`CREATE INDEX programs_by_run_status_score ON programs (run_id, status, score DESC, id, island, generation)`
    yield* sql`CREATE INDEX programs_by_run_status_hash ON programs (run_id, status, code_hash)`
    yield* sql`CREATE INDEX programs_by_run_status_failure ON programs (run_id, status, failure_kind)`
    yield* sql`CREATE INDEX programs_by_run_parent ON programs (run_id, parent_id, created_at, id)`
  }),
  /**
   * Evaluation starts per candidate (issue 9): incremented just before its evaluation begins, so
   * a candidate still pending after N starts took evolve down with it N times and is not retried.
   */
  "0006_evaluation_starts": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`ALTER TABLE programs ADD COLUMN eval_starts ${t.int} NOT NULL DEFAULT 0`
  }),
  /**
   * Resume rebuilds the model bandit from every finished candidate with a model (`llmOutcomes`):
   * without a covering index that read every code-carrying row of the run (0.5 s at 100k).
   */
  "0007_llm_outcomes_index": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE INDEX programs_by_run_model ON programs (run_id, llm_model, status, score, parent_id, llm_usd)`
  }),
  /**
   * Which process drives a run, renewed by a heartbeat: a second process (a CLI resume, a second
   * server on the same file) cannot drive the same run at the same time.
   */
  "0008_run_leases": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`ALTER TABLE runs ADD COLUMN lease_owner ${t.text}`
    yield* sql`ALTER TABLE runs ADD COLUMN lease_heartbeat_at ${t.bigint}`
  }),
  // ---- the web UI's explorer (src/db/ExploreQueries.ts, issue 20) ----
  /**
   * `runs.archived` (0/1): hidden from the dashboard unless asked for. `program_transcripts`: what
   * a proposal sent to the LLM and what came back, one row per exchange (the first prompt, then
   * each retry with the reason the previous answer failed).
   */
  "0009_explore": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`ALTER TABLE runs ADD COLUMN archived ${t.int} NOT NULL DEFAULT 0`
    yield* sql`CREATE TABLE program_transcripts (
      program_id ${t.text} NOT NULL,
      attempt ${t.int} NOT NULL,
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      model ${t.text},
      system_prompt ${t.text} NOT NULL,
      user_prompt ${t.text} NOT NULL,
      response ${t.text},
      created_at ${t.bigint} NOT NULL,
      PRIMARY KEY (program_id, attempt)
    )`
    yield* sql`CREATE INDEX program_transcripts_by_run ON program_transcripts (run_id)`
    yield* sql`CREATE INDEX llm_calls_by_run_time ON llm_calls (run_id, created_at)`
    // Covers ExploreQueries.programFacts (lineage, timeline, islands, score series): the run's
    // programs in order without reading their code-carrying rows.
    yield* sql`CREATE INDEX programs_explore ON programs (run_id, created_at, id, parent_id, island, generation, status,
      score, failure_kind, evaluated_at, eval_ms, llm_latency_ms, llm_model, llm_usd)`
  }),
  // ---- cluster evaluation workers (src/db/WorkerStore.ts, issue 16) ----
  "0010_workers": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE workers (
      id ${t.text} PRIMARY KEY,
      host ${t.text} NOT NULL,
      pid ${t.int} NOT NULL,
      version ${t.text} NOT NULL,
      slots ${t.int} NOT NULL,
      tags ${t.text} NOT NULL,
      capabilities ${t.text} NOT NULL,
      busy ${t.int} NOT NULL,
      done ${t.int} NOT NULL,
      started_at ${t.bigint} NOT NULL,
      heartbeat_at ${t.bigint} NOT NULL,
      stopped_at ${t.bigint}
    )`
  }),
  // ---- steering a live run (src/db/SteeringStore.ts, issue 17) ----
  /**
   * The steering actions a run accepted, numbered per run: `action` is the action's tag, `data`
   * its JSON, `program_id` the program an Inject stored. Resume folds them into the run's
   * guidance, pins, bans and model weights again.
   */
  "0011_steering": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE steering (
      run_id TEXT NOT NULL REFERENCES runs(id),
      seq BIGINT NOT NULL,
      at BIGINT NOT NULL,
      action TEXT NOT NULL,
      program_id TEXT,
      data TEXT NOT NULL,
      PRIMARY KEY (run_id, seq)
    )`
  }),
  // ---- programs that are trees of files (src/db/ProgramTrees.ts, issue 18) ----
  /**
   * `blobs`: one row per distinct file content (and per tree manifest), keyed by its sha256;
   * `programs.tree`: the manifest of a multi-file program (its `code` is then empty), NULL for
   * a single-file program, so existing rows read as before.
   */
  "0012_program_trees": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE blobs (
      hash ${t.text} PRIMARY KEY,
      content ${t.text} NOT NULL
    )`
    yield* sql`ALTER TABLE programs ADD COLUMN tree ${t.text}`
  }),
  // ---- evaluator files shipped with a cluster run (src/db/EvaluatorFileStore.ts, issue 16) ----
  /**
   * `evaluator_blobs`: file contents keyed by their SHA-256 (base64 text, portable). A run's
   * evaluator (`run_evaluators`: its directory's content hash and the evaluator file within it)
   * lists its files in `run_evaluator_files`; workers rebuild the directory from them.
   */
  "0013_evaluator_files": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE evaluator_blobs (
      hash ${t.text} PRIMARY KEY,
      size ${t.bigint} NOT NULL,
      content ${t.text} NOT NULL
    )`
    yield* sql`CREATE TABLE run_evaluators (
      run_id ${t.text} PRIMARY KEY REFERENCES runs(id),
      bundle_hash ${t.text} NOT NULL,
      entry ${t.text} NOT NULL,
      root ${t.text} NOT NULL
    )`
    yield* sql`CREATE TABLE run_evaluator_files (
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      path ${t.text} NOT NULL,
      hash ${t.text} NOT NULL,
      executable ${t.int} NOT NULL,
      PRIMARY KEY (run_id, path)
    )`
    yield* sql`CREATE INDEX run_evaluator_files_by_hash ON run_evaluator_files (hash)`
  }),
  // ---- adaptive search (src/db/SearchStore.ts, issue 17) ----
  /**
   * What adaptive search decided, numbered per run: `kind` (stall_detected, exploration_changed,
   * migrated, shift_proposed, note_written), the island (null: the run), the reason, the
   * meta-note's text, and the run's evaluations at the time. Resume takes the latest note back.
   */
  "0014_search_decisions": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE search_decisions (
      run_id ${t.text} NOT NULL REFERENCES runs(id),
      seq ${t.bigint} NOT NULL,
      at ${t.bigint} NOT NULL,
      evaluations ${t.bigint} NOT NULL,
      kind ${t.text} NOT NULL,
      island ${t.int},
      reason ${t.text} NOT NULL,
      note ${t.text},
      PRIMARY KEY (run_id, seq)
    )`
  }),
  // ---- what an LLM call was for (src/db/LlmCallStore.ts, issue 17) ----
  /**
   * `llm_calls.purpose`: "proposal", "judge" (the novelty judge) or "meta_note" (adaptive
   * search's note, which has no program). NULL on calls stored before: proposals and judges,
   * told apart by their id (`<program>.llm`, `<program>.judge`).
   */
  "0015_llm_call_purpose": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`ALTER TABLE llm_calls ADD COLUMN purpose ${t.text}`
  }),
  // ---- the cluster's evolve version (src/db/ClusterVersion.ts, issue 16) ----
  /**
   * One row per evolve version a control process of this database has run, stamped with the last
   * start of one: a worker compares its version with the newest before it joins.
   */
  "0016_cluster_versions": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = columnTypes(sql)
    yield* sql`CREATE TABLE cluster_versions (
      version ${t.text} PRIMARY KEY,
      recorded_at ${t.bigint} NOT NULL
    )`
  })
}
