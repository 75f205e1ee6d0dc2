"""evolve's stand-in for `shinka.llm` (used only when ShinkaEvolve is not installed).

Evaluators such as ShinkaEvolve's novelty_generator ask LLM judges through `LLMClient`. The
stand-in sends every query to one OpenAI-compatible server: `OPENAI_BASE_URL` (default
https://api.openai.com/v1) with `OPENAI_API_KEY`, both from the evaluator's environment. evolve
passes no key to evaluators by itself: name it in the run config (`evaluator.pass_env:
[OPENAI_API_KEY]`, `evaluator.env: {OPENAI_BASE_URL: ...}`). Model names are sent as written
(a proxy such as LiteLLM can route them); costs are reported as 0 (no price list here).
"""

import json
import os
import random
import re
import urllib.error
import urllib.request

__all__ = ["LLMClient", "QueryResult", "extract_between"]


class QueryResult:
    """One answer: its text, the conversation, token counts and cost."""

    def __init__(self, content, msg, system_msg, new_msg_history, model_name, kwargs,
                 input_tokens=0, output_tokens=0, cost=0.0):
        self.content = content
        self.msg = msg
        self.system_msg = system_msg
        self.new_msg_history = new_msg_history
        self.model_name = model_name
        self.kwargs = kwargs
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.thinking_tokens = 0
        self.cost = cost
        self.input_cost = 0.0
        self.output_cost = 0.0
        self.thought = ""
        self.model_posteriors = {}
        self.num_tool_calls = 0
        self.num_total_queries = 1

    def to_dict(self):
        return dict(vars(self))


def _pick(value, index):
    return value[index] if isinstance(value, (list, tuple)) else value


def _is_local(url):
    return re.match(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)", url) is not None


class LLMClient:
    def __init__(self, model_names="gpt-4o-mini", temperatures=0.75, max_tokens=4096,
                 reasoning_efforts="disabled", model_sample_probs=None, output_model=None,
                 verbose=True, **_ignored):
        self.model_names = [model_names] if isinstance(model_names, str) else list(model_names)
        self.temperatures = temperatures
        self.max_tokens = max_tokens
        self.reasoning_efforts = reasoning_efforts
        self.model_sample_probs = model_sample_probs
        self.verbose = verbose

    def get_kwargs(self, model_sample_probs=None):
        """The settings of one model, drawn by the sampling probabilities (uniform by default)."""
        probs = model_sample_probs or self.model_sample_probs
        index = random.choices(range(len(self.model_names)), weights=probs)[0] if probs else \
            random.randrange(len(self.model_names))
        return {
            "model_name": self.model_names[index],
            "temperature": _pick(self.temperatures, index),
            "max_tokens": _pick(self.max_tokens, index),
            "reasoning_effort": _pick(self.reasoning_efforts, index),
        }

    def query(self, msg, system_msg, msg_history=None, llm_kwargs=None, **_ignored):
        kwargs = dict(llm_kwargs or self.get_kwargs())
        base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
        key = os.environ.get("OPENAI_API_KEY", "")
        if key == "" and not _is_local(base_url):
            raise RuntimeError(
                "shinka.llm (evolve's stand-in) needs OPENAI_API_KEY for " + base_url +
                ": add it to evaluator.pass_env in the run config (evolve passes no key by itself)")
        history = list(msg_history or [])
        messages = [{"role": "system", "content": system_msg}] + history + [{"role": "user", "content": msg}]
        body = {"model": kwargs["model_name"], "messages": messages}
        if kwargs.get("temperature") is not None:
            body["temperature"] = kwargs["temperature"]
        if kwargs.get("max_tokens") is not None:
            body["max_tokens"] = kwargs["max_tokens"]
        request = urllib.request.Request(
            base_url + "/chat/completions", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + key} if key else {})})
        try:
            with urllib.request.urlopen(request, timeout=float(os.environ.get("SHINKA_LLM_TIMEOUT", "600"))) as response:
                answer = json.loads(response.read().decode())
        except urllib.error.HTTPError as e:
            raise RuntimeError("LLM judge %s: HTTP %d from %s" % (kwargs["model_name"], e.code, base_url)) from None
        content = answer["choices"][0]["message"].get("content") or ""
        usage = answer.get("usage") or {}
        return QueryResult(
            content, msg, system_msg, history + [{"role": "user", "content": msg}, {"role": "assistant", "content": content}],
            kwargs["model_name"], kwargs, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def extract_between(content, start="<json>", end="</json>", return_dict=True, fallback=False):
    """The text between `start` and `end` (parsed as JSON when `return_dict`), or "none"."""
    patterns = [re.escape(start) + r"\s*(.*?)\s*" + re.escape(end)] + ([r"```\s*(.*?)\s*```"] if fallback else [])
    for pattern in patterns:
        found = re.search(pattern, content, re.DOTALL)
        if found:
            text = found.group(1).strip()
            return json.loads(text) if return_dict else text
    return "none"
