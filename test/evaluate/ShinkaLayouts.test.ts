import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"

/** A Shinka example in the layout of ShinkaEvolve's game_2048: a helper module next to evaluate.py, run_shinka_eval. */
const files = {
  "env.py": `
import numpy as np

def play(policy):
    board = np.zeros((2, 2))
    moves = [policy(board) for _ in range(3)]
    return board, moves
`,
  "evaluate.py": `
import argparse, os
from typing import Any, Dict, List

from shinka.core import run_shinka_eval

from env import play


def validate(run_output):
    board, moves = run_output
    if any(m not in ("up", "down") for m in moves):
        return False, "unknown move %r" % (moves,)
    return True, "ok"


def aggregate(results: List[Any], results_dir: str) -> Dict[str, Any]:
    board, moves = results[0]
    return {
        "combined_score": float(moves.count("up")),
        "public": {"num_moves": len(moves), "board": str(board)},
        "private": {"secret": 1},
    }


def main(program_path, results_dir):
    os.makedirs(results_dir, exist_ok=True)
    metrics, correct, error = run_shinka_eval(
        program_path=program_path,
        results_dir=results_dir,
        experiment_fn_name="run_game",
        num_runs=2,
        validate_fn=validate,
        aggregate_metrics_fn=lambda r: aggregate(r, results_dir),
    )
    print("correct" if correct else "failed: %s" % error)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", type=str, default="initial.py")
    parser.add_argument("--results_dir", type=str, default="results")
    args = parser.parse_args()
    main(args.program_path, args.results_dir)
`
}

const program = (move: string) => `
from env import play

def policy(board):
    return ${JSON.stringify(move)}

def run_game(seed=None):
    return play(policy)
`

describe("Shinka layouts", () => {
  for (const warm of [true, false]) {
    it.scopedLive(`an evaluate.py importing shinka.core.run_shinka_eval runs without ShinkaEvolve (warm pool: ${warm})`, () =>
      withPythonEvaluator(files, { contract: "shinka", timeoutMs: 20_000, warm }, (evaluate) =>
        Effect.gen(function*() {
          const ok = expectScored(yield* evaluate(program("up")))
          expect(ok.score).toBe(3)
          expect(ok.metrics).toMatchObject({ combined_score: 3, num_moves: 3, num_valid_runs: 2, num_invalid_runs: 0 })
          expect(ok.metrics.secret).toBeUndefined()
          expect(typeof ok.metrics.execution_time_mean).toBe("number")
          const invalid = expectFailed(yield* evaluate(program("left")), "evaluator_error")
          expect(invalid.failure.message).toMatch(/Validation failed: unknown move/)
          const missing = expectFailed(yield* evaluate("def other():\n    pass\n"), "evaluator_error")
          expect(missing.failure.message).toMatch(/Experiment function 'run_game' not found/)
        })))
  }

  it.scopedLive("an async def experiment function is awaited", () =>
    withPythonEvaluator(files, { contract: "shinka", timeoutMs: 20_000 }, (evaluate) =>
      Effect.gen(function*() {
        const code = program("up").replace("def run_game(seed=None):", "async def run_game(seed=None):")
        expect(code).toContain("async def run_game")
        const ok = expectScored(yield* evaluate(code))
        expect(ok.score).toBe(3)
      })))

  it.scopedLive("the stand-in names what it does not provide", () =>
    withPythonEvaluator({
      "evaluate.py": `
from shinka.core import ShinkaEvolveRunner
`
    }, { contract: "shinka", timeoutMs: 20_000 }, (evaluate) =>
      Effect.gen(function*() {
        const outcome = expectFailed(yield* evaluate("X = 1\n"), "evaluator_error")
        expect(outcome.failure.message).toMatch(/ShinkaEvolveRunner needs ShinkaEvolve itself/)
      })))
})
