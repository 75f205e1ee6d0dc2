"""Shinka-format evaluator for the spread-points example.

    python evaluate.py --program_path P --results_dir D

writes D/metrics.json ({"combined_score", "public", "private", "text_feedback"}) and
D/correct.json ({"correct", "error"}), as ShinkaEvolve's evaluators do.

Strict checks: for every seed the candidate must return exactly N finite points inside the
closed unit square (no tolerance); the smallest pairwise distance is recomputed here. Each call
has its own time limit.
"""
import argparse
import importlib.util
import json
import os
import signal
import traceback

import numpy as np

N = 20
SEEDS = (1, 2, 3, 4)
TIME_LIMIT_SECONDS = 10


class TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise TimeLimit(f"run_experiment took longer than {TIME_LIMIT_SECONDS} s")


def load(program_path):
    spec = importlib.util.spec_from_file_location("candidate_program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smallest_distance(points):
    diff = points[:, None, :] - points[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    np.fill_diagonal(dist, np.inf)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    return float(dist[i, j]), (int(i), int(j))


def check(points):
    """The reason the points are invalid, or None."""
    if points.shape != (N, 2):
        return f"expected an array of shape ({N}, 2), got {points.shape}"
    if not np.all(np.isfinite(points)):
        return "points must be finite (no NaN or infinity)"
    outside = np.flatnonzero((points < 0).any(axis=1) | (points > 1).any(axis=1))
    if outside.size:
        return f"point {outside[0]} at {points[outside[0]].tolist()} is outside the unit square"
    return None


def evaluate(program_path):
    module = load(program_path)
    per_seed, notes = [], []
    signal.signal(signal.SIGALRM, _alarm)
    for seed in SEEDS:
        signal.alarm(TIME_LIMIT_SECONDS)
        try:
            points = np.asarray(module.run_experiment(seed=seed, n=N), dtype=float)
        finally:
            signal.alarm(0)
        problem = check(points)
        if problem:
            return None, f"seed {seed}: {problem}"
        distance, (i, j) = smallest_distance(points)
        per_seed.append(distance)
        notes.append(f"seed {seed}: smallest distance {distance:.5f} between points {i} and {j}")
    worst = min(per_seed)
    metrics = {
        "combined_score": float(np.mean(per_seed)),
        "public": {"min_distance_mean": float(np.mean(per_seed)), "min_distance_worst": worst},
        "private": {"per_seed": per_seed},
        "text_feedback": "\n".join(notes),
    }
    return metrics, None


def main(program_path, results_dir):
    os.makedirs(results_dir, exist_ok=True)
    try:
        metrics, error = evaluate(program_path)
    except Exception:
        metrics, error = None, "the candidate raised:\n" + traceback.format_exc(limit=4)
    if metrics is None:
        metrics = {"combined_score": 0.0, "public": {}, "private": {}, "text_feedback": error}
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": error is None, "error": error}, f, indent=2)
    print(f"combined_score={metrics['combined_score']:.6f} correct={error is None}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--program_path", required=True)
    parser.add_argument("--results_dir", required=True)
    args = parser.parse_args()
    main(args.program_path, args.results_dir)
