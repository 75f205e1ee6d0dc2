"""evolve's stand-in for `shinka.utils.wolfram`: finding and calling `wolframscript`
(`WOLFRAMSCRIPT_BIN` names another binary or path)."""

import os
import shutil


def wolframscript_bin():
    return os.environ.get("WOLFRAMSCRIPT_BIN", "wolframscript")


def resolve_wolframscript_bin():
    configured = wolframscript_bin()
    return shutil.which(configured) or configured


def is_wolframscript_available():
    found = resolve_wolframscript_bin()
    return shutil.which(found) is not None or os.path.isfile(found)


def check_wolframscript_available():
    if not is_wolframscript_available():
        raise ValueError("wolframscript executable not found: install Wolfram Engine or set WOLFRAMSCRIPT_BIN")


def build_wolframscript_argv(args):
    return [resolve_wolframscript_bin(), *args]


def escape_wolfram_string(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')
