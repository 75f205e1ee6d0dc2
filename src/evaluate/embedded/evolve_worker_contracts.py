"""The evaluator's contracts in the child: the openevolve module's evaluate() (with its cascade)
and shinka's evaluate.py run as __main__."""
import inspect
import json
import numbers
import os
import sys
import traceback

import evolve_worker_script as script
import evolve_worker_settings as settings

_module = None
_SHINKA_CODE = None


def _install_openevolve_shim():
    """Lets "from openevolve.evaluation_result import EvaluationResult" work without OpenEvolve."""
    import dataclasses
    import types

    @dataclasses.dataclass
    class EvaluationResult:
        metrics: dict
        artifacts: dict = dataclasses.field(default_factory=dict)

        @classmethod
        def from_dict(cls, metrics):
            return cls(metrics=metrics)

        def to_dict(self):
            return self.metrics

        def has_artifacts(self):
            return bool(self.artifacts)

        def get_artifact_keys(self):
            return list(self.artifacts.keys())

    package = types.ModuleType("openevolve")
    package.__path__ = []
    module = types.ModuleType("openevolve.evaluation_result")
    module.EvaluationResult = EvaluationResult
    package.evaluation_result = module
    sys.modules["openevolve"] = package
    sys.modules["openevolve.evaluation_result"] = module


def load():
    import importlib.util

    if settings.CONTRACT == "command":
        script.load()
        return
    directory = os.path.dirname(os.path.abspath(settings.PATH))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    if settings.CONFIG.get("stand_ins"):
        sys.path.append(settings.CONFIG["stand_ins"])  # last: an installed package of the same name wins
    if settings.CONTRACT == "openevolve":
        try:
            import openevolve.evaluation_result  # noqa: F401  (the real one wins)
        except Exception:
            _install_openevolve_shim()
        name = "evaluation_module"
    else:
        # Shinka runs the file as __main__ per candidate; importing it here under another name
        # only warms its imports (numpy, ...), which the children then share.
        name = "evolve_shinka_warmup"
    if settings.CONTRACT == "shinka":
        global _SHINKA_CODE
        with open(settings.PATH, "rb") as f:
            _SHINKA_CODE = compile(f.read(), settings.PATH, "exec")
    spec = importlib.util.spec_from_file_location(name, settings.PATH)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load " + settings.PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if settings.CONTRACT == "openevolve" and not (
        callable(getattr(module, "evaluate", None)) or callable(getattr(module, "evaluate_stage1", None))
    ):
        raise AttributeError(settings.PATH + " defines no evaluate(program_path) function")
    global _module
    _module = module


def format_exc():
    """The current exception's traceback without this worker's (and runpy's) frames."""
    kind, value, tb = sys.exc_info()
    frames = [
        frame for frame in traceback.extract_tb(tb)
        if os.path.dirname(os.path.abspath(frame.filename)) != settings.WORKER_DIR
        and not frame.filename.endswith("runpy.py")
    ]
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames) if frames else []
    return "".join(lines + traceback.format_exception_only(kind, value))


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fitness(metrics):
    for key in ("combined_score", settings.PRIMARY):
        if _is_number(metrics.get(key)):
            return float(metrics[key])
    values = [float(v) for k, v in metrics.items() if k != "error" and _is_number(v)]
    return sum(values) / len(values) if values else None


def _failed_report(metrics):
    error = metrics.get("error")
    return (isinstance(error, str) and error.strip() != "") or metrics.get("correct") is False


def _split(result, what):
    if isinstance(result, dict):
        return result, {}
    metrics = getattr(result, "metrics", None)
    if isinstance(metrics, dict):
        artifacts = getattr(result, "artifacts", None) or {}
        return metrics, artifacts if isinstance(artifacts, dict) else {"artifacts": artifacts}
    raise TypeError(
        "%s must return a dict of metrics or an object with .metrics and .artifacts, got %s"
        % (what, type(result).__name__)
    )


def _call(run, path):
    """run(path); an `async def` evaluator is awaited on a fresh event loop."""
    result = run(path)
    if inspect.isawaitable(result):
        import asyncio

        async def awaited():
            return await result

        return asyncio.run(awaited())
    return result


def _run_openevolve(job):
    path = job["program_path"]
    notes = []
    if settings.CONFIG.get("cascade") and callable(getattr(_module, "evaluate_stage1", None)):
        thresholds = settings.CONFIG.get("thresholds") or []
        metrics, artifacts, completed = {}, {}, 0
        for stage in (1, 2, 3):
            run = getattr(_module, "evaluate_stage%d" % stage, None)
            if not callable(run):
                break
            if stage > 1:
                if _failed_report(metrics):
                    notes.append("cascade stopped after stage %d: the stage reported a failure" % (stage - 1))
                    break
                if stage - 2 < len(thresholds):
                    score, threshold = _fitness(metrics), thresholds[stage - 2]
                    if score is None or score < threshold:
                        notes.append(
                            "cascade stopped after stage %d: score %s is below the threshold %s for stage %d"
                            % (stage - 1, "none" if score is None else "%.6g" % score, threshold, stage)
                        )
                        break
            try:
                stage_metrics, stage_artifacts = _split(_call(run, path), "evaluate_stage%d()" % stage)
            except Exception:
                if stage == 1:
                    raise
                notes.append("cascade stopped: evaluate_stage%d() raised\n%s" % (stage, format_exc()))
                break
            metrics.update(stage_metrics)
            artifacts.update(stage_artifacts)
            completed = stage
        return {"metrics": metrics, "artifacts": artifacts, "stages": completed, "notes": notes}
    run = getattr(_module, "evaluate", None)
    if not callable(run):
        raise AttributeError("the evaluator defines evaluate_stage1() but no evaluate(), and cascade_evaluation is off")
    metrics, artifacts = _split(_call(run, path), "evaluate()")
    return {"metrics": metrics, "artifacts": artifacts, "stages": 0, "notes": notes}


def _run_shinka(job):
    import builtins
    import types

    sys.argv = [settings.PATH, "--program_path", job["program_path"], "--results_dir", job["results_dir"]]
    main = types.ModuleType("__main__")
    main.__file__ = settings.PATH
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    try:
        exec(_SHINKA_CODE, main.__dict__)  # as "python evaluate.py ...", compiled once per worker
    except SystemExit as stop:
        code = stop.code
        if code is None or code == 0:
            return {"exit": 0}
        if isinstance(code, int):
            return {"exit": code}
        sys.stderr.write("%s\n" % (code,))
        return {"exit": 1}
    return {"exit": 0}


def _jsonable(value):
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:
                pass
    return str(value)


def _artifact_text(value):
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=_jsonable)
        except Exception:
            text = str(value)
    return text if len(text) <= settings.ARTIFACT_CHARS else text[:settings.ARTIFACT_CHARS] + "..."


def payload(job):
    try:
        if settings.CONTRACT == "openevolve":
            out = _run_openevolve(job)
            try:
                metrics_json = json.dumps(out["metrics"], default=_jsonable)
            except Exception as error:
                return {"ok": False, "error": "the metrics are not JSON-serializable: %s" % error}
            artifacts = dict(list(out["artifacts"].items())[:settings.ARTIFACTS])
            return {
                "ok": True,
                "metrics_json": metrics_json,
                "artifacts": {str(k): _artifact_text(v) for k, v in artifacts.items()},
                "stages": out["stages"],
                "notes": out["notes"],
            }
        return dict(ok=True, **_run_shinka(job))
    except MemoryError:
        return {"ok": False, "memory": True, "error": format_exc()}
    except BaseException:
        trace = format_exc()
        sys.stderr.write(trace)
        return {"ok": False, "error": trace}
