"""Evaluator for the function-minimization example (Python, standard library only).

    python3 evaluator.py <candidate.py>

Imports the candidate, runs its `search(f, bounds, budget, rng)` on a multimodal 2-D function
for several fixed seeds, and prints ONE JSON line of metrics as the last stdout line. The
candidate sees `f` only as a black box: every call is counted, and calls beyond the budget
return +inf without evaluating anything. The returned point is re-scored here (not trusted),
and must be finite and inside the bounds (no tolerance).
"""
import contextlib
import importlib.util
import json
import math
import random
import sys
import traceback


def objective(x, y):
    return math.sin(x) * math.cos(y) + math.sin(x * y) + (x * x + y * y) / 20


# Global minimum over the bounds, found offline by exhaustive grid search + refinement.
F_MIN = -1.518685840848579
BOUNDS = ((-10.0, 10.0), (-10.0, 10.0))
BUDGET = 1000
SEEDS = list(range(1, 11))
SUCCESS_GAP = 1e-3  # a run "succeeds" when it lands within this of F_MIN
GAP_SCALE = 0.01  # per-seed score = 1 / (1 + gap / GAP_SCALE)


def fail(message):
    sys.stderr.write(f"evaluator: {message}\n")
    sys.exit(1)


def load(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    if spec is None or spec.loader is None:
        fail(f"cannot load candidate from {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            spec.loader.exec_module(module)
    except Exception:
        fail(f"cannot import candidate:\n{traceback.format_exc()}")
    search = getattr(module, "search", None)
    if not callable(search):
        fail("the candidate must define a function `search(f, bounds, budget, rng)`")
    return search


def in_bounds(x, y):
    return BOUNDS[0][0] <= x <= BOUNDS[0][1] and BOUNDS[1][0] <= y <= BOUNDS[1][1]


def run_seed(search, seed):
    calls = 0

    def f(x, y):
        nonlocal calls
        calls += 1
        if calls > BUDGET:
            return math.inf
        return objective(float(x), float(y))

    rng = random.Random(seed).random
    random.seed(seed ^ 0x9E3779B9)  # a candidate using `random` directly stays reproducible
    try:
        with contextlib.redirect_stdout(sys.stderr):
            point = search(f, [list(b) for b in BOUNDS], BUDGET, rng)
    except Exception as error:
        return None, f"seed {seed}: search raised {type(error).__name__}: {error}"
    try:
        x, y = (float(v) for v in point)
    except Exception:
        return None, f"seed {seed}: search must return a point (x, y), got {point!r:.100}"
    if not (math.isfinite(x) and math.isfinite(y)):
        return None, f"seed {seed}: the point ({x}, {y}) is not finite"
    if not in_bounds(x, y):
        return None, f"seed {seed}: the point ({x}, {y}) is outside the bounds {BOUNDS}"
    return {"value": objective(x, y), "calls": calls}, None


def main():
    if len(sys.argv) != 2:
        fail("usage: python3 evaluator.py <candidate path>")
    search = load(sys.argv[1])
    runs, errors = [], []
    for seed in SEEDS:
        run, error = run_seed(search, seed)
        runs.append(run)
        if error:
            errors.append(error)
    valid = [r for r in runs if r is not None]
    if not valid:
        fail("no valid run:\n" + "\n".join(errors))
    for error in errors:
        sys.stderr.write(f"evaluator: {error}\n")
    scores = [0.0 if r is None else 1 / (1 + max(0.0, r["value"] - F_MIN) / GAP_SCALE) for r in runs]
    values = [r["value"] for r in valid]
    metrics = {
        "combined_score": sum(scores) / len(SEEDS),
        "mean_value": sum(values) / len(values),
        "best_value": min(values),
        "success_rate": sum(1 for v in values if v - F_MIN <= SUCCESS_GAP) / len(SEEDS),
        "valid_rate": len(valid) / len(SEEDS),
        "over_budget_rate": sum(1 for r in valid if r["calls"] > BUDGET) / len(SEEDS),
    }
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
