"""OpenEvolve-format evaluator for the circle packing example.

OpenEvolve (and `evolve` with `evaluator.contract: openevolve`) calls `evaluate(program_path)`,
which returns a dict of metrics; `combined_score` is the fitness (here the sum of radii).

The check is strict, so the search cannot "win" by exploiting slack:
- exactly 26 finite centres and non-negative finite radii;
- every circle inside the unit square, and no two circles overlapping, to within 1e-12;
- the score is recomputed from the radii (the program's own sum is not trusted).
The candidate runs in a forked process with its own time limit, so a hung candidate is stopped
even when the framework's timeout is generous.
"""
import importlib.util
import multiprocessing
import time
import traceback

import numpy as np

try:  # Imported here so that candidates (which use it) find it loaded: with evolve's warm pool
    import scipy.optimize  # noqa: F401  this module is imported once per worker, not per candidate.
except ImportError:
    pass

N = 26
TOLERANCE = 1e-12
TIME_LIMIT_SECONDS = 20.0
BEST_KNOWN = 2.635


def _run_candidate(program_path, connection):
    try:
        spec = importlib.util.spec_from_file_location("candidate_program", program_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        centres, radii, _reported = module.run_packing()
        connection.send(("ok", np.asarray(centres, dtype=float).tolist(), np.asarray(radii, dtype=float).tolist()))
    except BaseException:
        connection.send(("error", traceback.format_exc(limit=5), None))
    finally:
        connection.close()


def run_with_time_limit(program_path, seconds=TIME_LIMIT_SECONDS):
    """Runs the candidate's run_packing() in a child process; kills it past `seconds`."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run_candidate, args=(program_path, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise TimeoutError(f"run_packing() took longer than {seconds:g} s")
        status, first, second = receiver.recv()
    except EOFError:
        raise RuntimeError("the candidate process died without a result") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(1)
    if status != "ok":
        raise RuntimeError(f"run_packing() raised:\n{first}")
    return np.array(first, dtype=float), np.array(second, dtype=float)


def violations(centres, radii):
    """Every reason the packing is invalid (an empty list when it is valid)."""
    problems = []
    if centres.shape != (N, 2):
        return [f"expected centres of shape ({N}, 2), got {centres.shape}"]
    if radii.shape != (N,):
        return [f"expected radii of shape ({N},), got {radii.shape}"]
    if not (np.all(np.isfinite(centres)) and np.all(np.isfinite(radii))):
        return ["centres and radii must be finite numbers (no NaN or infinity)"]
    for i in np.flatnonzero(radii < 0):
        problems.append(f"circle {i} has a negative radius {radii[i]:.3e}")
    x, y, r = centres[:, 0], centres[:, 1], radii
    for i in range(N):
        slack = min(x[i] - r[i], 1 - x[i] - r[i], y[i] - r[i], 1 - y[i] - r[i])
        if slack < -TOLERANCE:
            problems.append(f"circle {i} at ({x[i]:.6f}, {y[i]:.6f}) with radius {r[i]:.6f} leaves the square by {-slack:.3e}")
    for i in range(N):
        for j in range(i + 1, N):
            gap = float(np.hypot(x[i] - x[j], y[i] - y[j])) - (r[i] + r[j])
            if gap < -TOLERANCE:
                problems.append(f"circles {i} and {j} overlap by {-gap:.3e}")
    return problems


def evaluate(program_path):
    started = time.perf_counter()
    centres, radii = run_with_time_limit(program_path)
    problems = violations(centres, radii)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return {"combined_score": 0.0, "valid": 0.0, "error": f"invalid packing: {shown}"}
    total = float(np.sum(radii))
    return {
        "combined_score": total,
        "sum_radii": total,
        "target_ratio": total / BEST_KNOWN,
        "valid": 1.0,
        "smallest_radius": float(np.min(radii)),
        "eval_seconds": time.perf_counter() - started,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(evaluate(sys.argv[1] if len(sys.argv) > 1 else "initial_program.py")))
