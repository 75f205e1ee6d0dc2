"""evolve's stand-in for ShinkaEvolve's `shinka.core.wrap_eval.run_shinka_eval`.

Same signature, same files (`metrics.json`, `correct.json`, `extra.pkl`, plots) and the same
return value `(metrics, correct, error)`. Early stopping is not reproduced: every run runs. An
`async def` experiment function is awaited.
"""
import asyncio
import importlib.util
import inspect
import json
import math
import os
import pickle
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

DEFAULT_METRICS_ON_ERROR = {
    "combined_score": 0.0,
    "execution_time_mean": 0.0,
    "execution_time_std": 0.0,
    "num_successful_runs": 0,
    "num_valid_runs": 0,
    "num_invalid_runs": 0,
    "all_validation_errors": [],
}


def load_program(program_path):
    """Loads the candidate as the module "program", as ShinkaEvolve does."""
    spec = importlib.util.spec_from_file_location("program", program_path)
    if spec is None or spec.loader is None:
        raise ImportError("Could not load spec for module at %s" % program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _experiment(module, program_path, name):
    if not hasattr(module, name):
        raise AttributeError("Experiment function '%s' not found in %s" % (name, program_path))
    return getattr(module, name)


async def _awaited(awaitable):
    return await awaitable


def _call(fn, kwargs):
    """fn(**kwargs); an `async def` experiment is awaited (evolve's addition)."""
    result = fn(**kwargs)
    return asyncio.run(_awaited(result)) if inspect.isawaitable(result) else result


def _run_single_evaluation(program_path, experiment_fn_name, run_index, kwargs):
    fn = _experiment(load_program(program_path), program_path, experiment_fn_name)
    start = time.perf_counter()
    result = _call(fn, kwargs)
    return run_index, result, time.perf_counter() - start


def save_json_results(results_dir, metrics, correct, error=None, verbose=True):
    os.makedirs(results_dir, exist_ok=True)
    correct_file = os.path.join(results_dir, "correct.json")
    with open(correct_file, "w") as f:
        json.dump({"correct": correct, "error": error}, f, indent=4)
    metrics_file = os.path.join(results_dir, "metrics.json")
    with open(metrics_file, "w") as f:
        json.dump(metrics, f, indent=4, default=_jsonable)
    if verbose:
        print("Correctness and error status saved to %s" % correct_file)
        print("Metrics saved to %s" % metrics_file)


def _jsonable(value):
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    return str(value)


def _save_plots(plotting_fn, extra_data, results_dir):
    plots_dir = os.path.join(results_dir, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    try:
        import matplotlib.pyplot as plt
        from matplotlib.animation import ArtistAnimation, FuncAnimation

        for item, title in plotting_fn(extra_data):
            if isinstance(item, (FuncAnimation, ArtistAnimation)):
                item.save(os.path.join(plots_dir, "%s.gif" % title), writer="pillow", fps=30)
                plt.close(item._fig)
            else:
                item.savefig(os.path.join(plots_dir, "%s.png" % title), bbox_inches="tight", dpi=150)
                item.savefig(os.path.join(plots_dir, "%s.pdf" % title), bbox_inches="tight")
                plt.close(item)
    except Exception as e:
        print("Error generating plots: %s" % e)


def run_shinka_eval(
    program_path,
    results_dir,
    experiment_fn_name,
    num_runs,
    get_experiment_kwargs=None,
    aggregate_metrics_fn=None,
    validate_fn=None,
    plotting_fn=None,
    default_metrics_on_error=None,
    early_stop_method=None,
    early_stop_threshold=None,
    early_stop_score_fn=None,
    early_stop_kwargs=None,
    run_workers=1,
    max_workers_cap=None,
    verbose=None,
):
    if verbose is None:
        verbose = os.environ.get("SHINKA_EVAL_VERBOSE", "1") != "0"
    defaults = dict(default_metrics_on_error or DEFAULT_METRICS_ON_ERROR)
    if run_workers < 1:
        raise ValueError("run_workers must be >= 1")
    if max_workers_cap is not None and max_workers_cap < 1:
        raise ValueError("max_workers_cap must be >= 1 when provided")
    workers = run_workers if max_workers_cap is None else min(run_workers, max_workers_cap)
    workers = min(workers, num_runs) if num_runs > 0 else 1
    parallel = num_runs > 1 and workers > 1
    if parallel and early_stop_method is not None:
        raise ValueError("Early stopping is only supported in sequential mode (set run_workers=1).")
    if early_stop_method is not None and early_stop_method != "none":
        if early_stop_threshold is None:
            raise ValueError("early_stop_threshold is required when early_stop_method is set")
        sys.stderr.write("evolve: run_shinka_eval stand-in: early stopping is not supported; every run runs\n")

    correct, first_error, validation_errors = True, None, []
    num_valid = num_invalid = 0
    results, times = [], []
    try:
        fn = _experiment(load_program(program_path), program_path, experiment_fn_name)
        kwargs_of = get_experiment_kwargs or (lambda i: {"seed": i + 1})
        if parallel:
            ordered = [None] * num_runs
            with ProcessPoolExecutor(max_workers=workers) as executor:
                futures = [
                    executor.submit(_run_single_evaluation, program_path, experiment_fn_name, i, kwargs_of(i))
                    for i in range(num_runs)
                ]
                for i, future in enumerate(futures):
                    try:
                        ordered[i] = future.result()
                    except Exception as e:
                        raise RuntimeError("Run %d/%d failed in parallel evaluation: %s." % (i + 1, num_runs, e)) from e
            runs = [(result, seconds) for _, result, seconds in ordered]
        else:
            runs = None
        for i in range(num_runs):
            if verbose:
                print("%sRunning program evaluation %d/%d...%s" % ("=" * 10, i + 1, num_runs, "=" * 10))
            if runs is None:
                start = time.perf_counter()
                result = _call(fn, kwargs_of(i))
                seconds = time.perf_counter() - start
            else:
                result, seconds = runs[i]
            results.append(result)
            times.append(seconds)
            if validate_fn:
                valid, message = validate_fn(result)
                if valid:
                    num_valid += 1
                else:
                    num_invalid += 1
                    correct = False
                    if message:
                        first_error = first_error or "Validation failed: %s" % message
                        if message not in validation_errors:
                            validation_errors.append(message)
            if verbose:
                print("%sRun %d/%d completed in %.2f seconds%s" % ("=" * 10, i + 1, num_runs, seconds, "=" * 10))

        if aggregate_metrics_fn:
            metrics = aggregate_metrics_fn(results)
        else:
            metrics = {"num_successful_runs": len(results)}
            metrics["first_run_result_type"] = str(type(results[0])) if results else "N/A"
            metrics["raw_results_preview"] = str(results[:2]) if results else "N/A"
        metrics["execution_time_mean"] = float(statistics.fmean(times)) if times else 0.0
        metrics["execution_time_std"] = float(statistics.pstdev(times)) if times else 0.0
        if validate_fn:
            metrics["num_valid_runs"] = num_valid
            metrics["num_invalid_runs"] = num_invalid
            metrics["all_validation_errors"] = validation_errors
        if "combined_score" in metrics:
            score = float(metrics["combined_score"])
            if math.isnan(score):
                correct = False
                first_error = first_error or "combined_score is NaN"
            elif math.isinf(score):
                correct = False
                first_error = first_error or "combined_score is inf (%s)" % score
    except Exception as e:
        print("Evaluation error: %s" % e)
        metrics = {k: defaults.get(k, v) for k, v in DEFAULT_METRICS_ON_ERROR.items()}
        if validate_fn:
            metrics.setdefault("num_valid_runs", 0)
            metrics.setdefault("num_invalid_runs", len(results))
            metrics.setdefault("all_validation_errors", [str(e)])
        first_error = str(e)
        correct = False

    if "extra_data" in metrics:
        os.makedirs(results_dir, exist_ok=True)
        extra_data = metrics.pop("extra_data")
        with open(os.path.join(results_dir, "extra.pkl"), "wb") as f:
            pickle.dump(extra_data, f)
        if plotting_fn is not None:
            _save_plots(plotting_fn, extra_data, results_dir)

    save_json_results(results_dir, metrics, correct, first_error, verbose=verbose)
    return metrics, correct, first_error
