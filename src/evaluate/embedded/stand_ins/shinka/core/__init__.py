"""evolve's stand-in for `shinka.core`: only `run_shinka_eval`, what evaluate.py files import."""
from .wrap_eval import run_shinka_eval

__all__ = ["run_shinka_eval"]


def __getattr__(name):
    raise ImportError(
        "evolve provides only shinka.core.run_shinka_eval for Shinka evaluators; "
        "shinka.core.%s needs ShinkaEvolve itself (pip install shinka-evolve)" % name
    )
