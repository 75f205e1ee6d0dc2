/** The keys of OpenEvolve's config.yaml, by section: what tells its files from evolve's. */

/** Top-level keys of OpenEvolve's Config that evolve's RunConfig does not have. */
export const openEvolveTopLevel = new Set([
  "max_iterations",
  "checkpoint_interval",
  "log_level",
  "log_dir",
  "random_seed",
  "file_suffix",
  "diff_based_evolution",
  "max_code_length",
  "enforce_evolve_blocks",
  "diff_pattern",
  "early_stopping_patience",
  "convergence_threshold",
  "early_stopping_metric",
  "max_tasks_per_child",
  "evolution_trace"
])

export const openEvolveLlm = new Set([
  "api_base",
  "api_key",
  "primary_model",
  "primary_model_weight",
  "secondary_model",
  "secondary_model_weight",
  "evaluator_models",
  "top_p",
  "timeout",
  "retries",
  "retry_delay",
  "reasoning_effort",
  "system_message",
  "manual_mode"
])

export const openEvolveEvaluator = new Set([
  "timeout",
  "max_retries",
  "memory_limit_mb",
  "cpu_limit",
  "cascade_evaluation",
  "cascade_thresholds",
  "parallel_evaluations",
  "distributed",
  "use_llm_feedback",
  "llm_feedback_weight",
  "enable_artifacts",
  "max_artifact_storage",
  "evaluator_args"
])

export const openEvolveDatabase = new Set([
  "db_path",
  "in_memory",
  "log_prompts",
  "population_size",
  "archive_size",
  "num_islands",
  "elite_selection_ratio",
  "exploration_ratio",
  "exploitation_ratio",
  "diversity_metric",
  "feature_dimensions",
  "feature_bins",
  "diversity_reference_size",
  "migration_interval",
  "migration_rate",
  "random_seed",
  "artifacts_base_path",
  "artifact_size_threshold",
  "cleanup_old_artifacts",
  "artifact_retention_days",
  "max_snapshot_artifacts",
  "embedding_model",
  "embedding_api_base",
  "similarity_threshold"
])
