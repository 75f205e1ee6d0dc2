"""The `command` contract started warm: in the forked child, the evaluator script runs as
`python SCRIPT ARGS... PROGRAM` would run it cold: the same argv, environment, working directory,
stdio (fresh buffered streams on the same fds), `__main__`, exit status (sys.exit codes, an
uncaught exception's traceback on stderr and 1, KeyboardInterrupt as SIGINT) and finalization
(non-daemon threads joined, atexit handlers run, streams flushed).

The worker compiles the script once (`load`). After each job the child reports the modules the
script imported from outside its own and the candidate's dirs; the worker imports them
(`preload`), so later children start with them loaded, as a cold interpreter never could.
"""
import builtins
import importlib.machinery
import json
import os
import signal
import sys
import types

import evolve_worker_settings as settings

_CODE = None
_BASE_PATH = list(sys.path[1:])  # without the worker's own dir, which python put first
_preloaded = set()


def load():
    """Compiles the script: nothing of it runs in the worker."""
    global _CODE
    try:
        _CODE = _compile()
    except SyntaxError:
        pass  # each child raises it again, as each cold start would


def _compile():
    with open(settings.PATH, "rb") as f:
        return compile(f.read(), settings.PATH, "exec", dont_inherit=True)


def _under(path, dirs):
    path = os.path.realpath(path)
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def _imported(before, job):
    """Modules the script imported that a later child may find loaded: not its own dir's nor
    the candidate's (those a cold start reads afresh), not modules built at run time."""
    own = [os.path.realpath(os.path.dirname(settings.PATH)), os.path.realpath(job["dir"])]
    names = []
    for name, module in list(sys.modules.items()):
        if name in before or name == "__main__" or module is None:
            continue
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if origin in ("built-in", "frozen") or (isinstance(origin, str) and os.path.isfile(origin) and not _under(origin, own)):
            names.append(name)
    return names


def preload(names):
    """Imports, in the worker, the modules a script imported (once each; failures are ignored)."""
    for name in sorted(set(names) - _preloaded, key=lambda n: n.count(".")):
        _preloaded.add(name)
        try:
            importlib.import_module(name)
        except BaseException:
            pass
    sys.stdout.flush()
    sys.stderr.flush()


def _fresh_stdio():
    """The streams a cold interpreter opens on fds 0-2 (a pipe or file: stdout block-buffered,
    stderr line-buffered), instead of the worker's unbuffered ones."""
    def reopen(stream, fd, mode, **options):
        return open(fd, mode, closefd=False, encoding=stream.encoding, errors=stream.errors, **options)

    sys.stdin = sys.__stdin__ = reopen(sys.__stdin__, 0, "r")
    sys.stdout = sys.__stdout__ = reopen(sys.__stdout__, 1, "w")
    sys.stderr = sys.__stderr__ = reopen(sys.__stderr__, 2, "w", buffering=1)


def _reseed():
    """A cold interpreter seeds its random generators at start; a fork inherits the worker's
    state (`random` reseeds itself after a fork; numpy's legacy global generator does not)."""
    numpy_random = sys.modules.get("numpy.random")
    seed = getattr(numpy_random, "seed", None)
    if callable(seed):
        try:
            seed()
        except Exception:
            pass


def _without_worker_frames(tb):
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == settings.WORKER_DIR:
        tb = tb.tb_next
    return tb


def _exit_status(code):
    """What `raise SystemExit(code)` makes of the process's exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write("%s\n" % (code,))
    except Exception:
        pass
    return 1


def _finalize():
    """Interpreter shutdown: wait for non-daemon threads, run atexit handlers, flush the streams
    (a failed stdout flush makes the exit status 120, as in CPython)."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    failed = False
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            failed = failed or stream is sys.stdout
    return failed


def run(job, w_res):
    """Runs the script for one job in this (child) process; never returns."""
    os.chdir(settings.working_dir(job))
    os.environ.clear()
    os.environ.update(settings.SCRIPT_ENV)
    os.environ["EVOLVE_PROGRAM"] = job["program_path"]
    os.environ["EVOLVE_RESULTS_DIR"] = job["results_dir"]
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    sys.argv = list(settings.CONFIG["argv"]) + [job["program_path"]]
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [sys.executable] + sys.argv
    sys.path[:] = [os.path.dirname(os.path.realpath(settings.PATH))] + _BASE_PATH
    _fresh_stdio()
    _reseed()
    before = set(sys.modules)
    main = types.ModuleType("__main__")
    main.__file__ = settings.PATH
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", settings.PATH)
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    interrupted = False
    try:
        exec(_CODE or _compile(), main.__dict__)
        status = 0
    except SystemExit as stop:
        status = _exit_status(stop.code)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        try:
            tb = _without_worker_frames(error.__traceback__)
            sys.excepthook(type(error), error.with_traceback(tb), tb)
        except BaseException:
            pass
        status = 1
    if _finalize() and status == 0:
        status = 120
    try:
        data = json.dumps({"modules": _imported(before, job)}).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(w_res, view):]
        os.close(w_res)
    except BaseException:
        pass
    if interrupted:  # as CPython does: die of SIGINT, so that the parent sees the signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)
