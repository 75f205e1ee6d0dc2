"""Evaluator of examples/multi_file (OpenEvolve contract: evaluate(program_path) -> metrics).

`program_path` is the candidate's directory (the package `fastsort/` and its `tests/`).
1. Correctness gate: the package's own unit tests; any failure scores 0.
2. Speed: a fixed workload (sorting seeded random lists, searching a sorted list) is run under
   sys.settrace and every executed line of the package is counted. That count is a
   deterministic measure of the interpreter's work, so the score does not move with the
   machine's load; the wall time of the same workload, untraced, is reported beside it.
combined_score = baseline lines / candidate lines (1.0 for the initial program; higher is faster).
"""
import io
import os
import random
import sys
import time
import unittest

# Executed lines of the initial program on the workload below.
BASELINE_LINES = 435_531


def _workload(fastsort):
    rng = random.Random(2024)
    for _ in range(12):
        xs = [rng.randint(0, 10_000) for _ in range(300)]
        assert fastsort.sort(xs) == sorted(xs)
    table = sorted(rng.randint(0, 5_000) for _ in range(2_000))
    total = 0
    for _ in range(1_500):
        a = rng.randint(0, 5_000)
        total += fastsort.count_between(table, a, a + 250)
    return total


def _count_lines(fastsort, root):
    lines = 0

    def tracer(frame, event, arg):
        nonlocal lines
        if not frame.f_code.co_filename.startswith(root):
            return None
        if event == "line" or event == "call":
            lines += 1
        return tracer

    sys.settrace(tracer)
    try:
        _workload(fastsort)
    finally:
        sys.settrace(None)
    return lines


def evaluate(program_path):
    root = os.path.realpath(program_path)
    sys.path.insert(0, root)
    try:
        suite = unittest.defaultTestLoader.discover(os.path.join(root, "tests"), top_level_dir=root)
        out = io.StringIO()
        result = unittest.TextTestRunner(stream=out, verbosity=0).run(suite)
        if not result.wasSuccessful() or result.testsRun == 0:
            # A failed gate fails the candidate; the test report goes back to the model.
            raise AssertionError(f"the unit tests fail ({result.testsRun} run):\n{out.getvalue()[-1500:]}")
        import fastsort

        lines = _count_lines(fastsort, os.path.join(root, ""))
        started = time.perf_counter()
        _workload(fastsort)
        seconds = time.perf_counter() - started
        return {
            "combined_score": BASELINE_LINES / max(lines, 1),
            "tests_passed": 1.0,
            "lines_executed": float(lines),
            "seconds": seconds,
        }
    finally:
        sys.path.remove(root)


if __name__ == "__main__":
    print(evaluate(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "program")))
