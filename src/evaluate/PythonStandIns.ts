/**
 * Stand-ins for the peers' Python packages that evaluators import (src/evaluate/embedded/stand_ins/),
 * embedded at build time. The pool writes them to a directory that the worker appends to
 * `sys.path`, so an installed package of the same name always wins.
 *
 * - `shinka.core.run_shinka_eval` (ShinkaEvolve's evaluation wrapper), for `evaluate.py` files
 *   of the Shinka contract such as ShinkaEvolve's circle_packing and game_2048 examples.
 * - `shinka.llm.LLMClient` (LLM judges, e.g. novelty_generator) over one OpenAI-compatible server
 *   named in the evaluator's environment, and `shinka.utils.wolfram` (wolfram_gcd_sum).
 */
import shinkaCore from "./embedded/stand_ins/shinka/core/__init__.py.generated.js"
import shinkaWrapEval from "./embedded/stand_ins/shinka/core/wrap_eval.py.generated.js"
import shinka from "./embedded/stand_ins/shinka/__init__.py.generated.js"
import shinkaLlm from "./embedded/stand_ins/shinka/llm/__init__.py.generated.js"
import shinkaUtils from "./embedded/stand_ins/shinka/utils/__init__.py.generated.js"
import shinkaWolfram from "./embedded/stand_ins/shinka/utils/wolfram.py.generated.js"

/** Path under the stand-ins directory → text. */
export const pythonStandIns: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
  [["shinka", "__init__.py"], shinka],
  [["shinka", "core", "__init__.py"], shinkaCore],
  [["shinka", "core", "wrap_eval.py"], shinkaWrapEval],
  [["shinka", "llm", "__init__.py"], shinkaLlm],
  [["shinka", "utils", "__init__.py"], shinkaUtils],
  [["shinka", "utils", "wolfram.py"], shinkaWolfram]
]
