import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { fakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"

/** An evaluate.py in the layout of ShinkaEvolve's novelty_generator: the program's output scored by LLM judges. */
const files = {
  "evaluate.py": `
import argparse, importlib.util, json, os
from shinka.llm import LLMClient, extract_between


def main(program_path, results_dir):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs = module.run_experiment([1, 2, 3])
    judges = [LLMClient(model_names=name, temperatures=0.0, max_tokens=64) for name in ("judge-a", "judge-b")]
    scores = []
    for judge in judges:
        answer = judge.query(msg="Rate: " + " | ".join(outputs), system_msg="You are a judge.", llm_kwargs=judge.get_kwargs())
        scores.append(float(extract_between(answer.content)["novelty"]))
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump({"combined_score": sum(scores) / len(scores), "public": {"judges": len(scores)}}, f)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": True, "error": None}, f)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", type=str)
    parser.add_argument("--results_dir", type=str)
    args = parser.parse_args()
    main(args.program_path, args.results_dir)
`
}

const program = `
def run_experiment(seeds):
    return ["idea %d" % s for s in seeds]
`

describe("shinka.llm stand-in", () => {
  it.scopedLive("sends an evaluator's LLM judges to the OpenAI-compatible server its environment names", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({
        requireApiKey: "judge-key",
        responder: (request) => `Looks new. <json>{"novelty": ${request.body.model === "judge-a" ? 4 : 6}}</json>`
      })
      const env = { env: { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: "judge-key" }, passEnv: [], protectedNames: [] }
      yield* withPythonEvaluator(files, { contract: "shinka", timeoutMs: 20_000, env }, (evaluate) =>
        Effect.gen(function*() {
          const ok = expectScored(yield* evaluate(program))
          expect(ok.score).toBe(5)
          expect(ok.metrics.judges).toBe(2)
          expect(server.requests.map((r) => r.body.model).sort()).toEqual(["judge-a", "judge-b"])
          expect(server.requests[0]!.body.messages[0]).toEqual({ role: "system", content: "You are a judge." })
        }))
      // Without a key for a remote server, the candidate fails saying how to give one.
      yield* withPythonEvaluator(files, { contract: "shinka", timeoutMs: 20_000, env: { env: { OPENAI_BASE_URL: "https://judge.example/v1" }, passEnv: [], protectedNames: [] } }, (evaluate) =>
        Effect.gen(function*() {
          const failed = expectFailed(yield* evaluate(program), "evaluator_error")
          expect(failed.failure.message).toMatch(/needs OPENAI_API_KEY.*evaluator\.pass_env/)
        }))
    }))
})
