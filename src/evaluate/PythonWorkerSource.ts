/**
 * The source of evolve's warm Python worker, kept as a string so that bundling or packaging
 * can never lose it: the pool writes it to a temp file when it starts.
 *
 * One worker per evaluation slot. At start it imports the evaluator module once, then, for
 * each job line on stdin, hands the job to a child that runs the evaluation in the candidate's
 * temp dir under rlimits and reports back over a pipe; the worker answers on its private
 * protocol fd. With `prefork` the child is forked ahead of time, after the previous job's
 * cleanup, and waits for its job on a pipe: the fork is off the candidate's path.
 *
 * Protocol (one JSON object per line):
 *   evolve → worker (stdin):  {"type": "job", "id", "dir", "program", "code", "collect", "cleanup"}
 *     The worker creates dir/ and dir/results/, writes the code to dir/<program>, and after the
 *     run sends back the text of the `collect` files of dir/results/ (capped), then removes dir/
 *     when `cleanup` is set: evolve does no per-candidate file work.
 *   worker → evolve:          {"type": "ready", "pid", "python"}
 *                             {"type": "load_error", "error"}            (then it exits)
 *                             {"type": "started", "id", "pid"}           (the child's pid = its pgid)
 *                             {"type": "done", "id", "exit": {"code"} | {"signal"}, "result",
 *                              "result_error", "stdout", "stderr", "overflow", "leftover", "files"}
 *
 * The `collect` files are the candidate's to tamper with: they are opened without following a
 * symlink (the candidate dir and results/ too) or blocking on a FIFO, read only when regular and
 * at most the output cap: {"refused": why} or {"too_big": bytes} otherwise.
 *
 * The worker is a child subreaper, so a grandchild orphaned by the child is reparented to the
 * worker, which kills and reaps every process left below it after each job. evolve enforces
 * the wall-clock timeout itself by signalling the child's process group and process tree.
 */
export const pythonWorkerSource = String.raw`# evolve warm evaluation worker: written by evolve at pool start, do not edit.
import errno
import json
import numbers
import os
import resource
import selectors
import shutil
import signal
import stat
import sys
import time
import traceback

try:
    import ctypes

    _LIBC = ctypes.CDLL(None, use_errno=True)
except Exception:
    _LIBC = None

# The protocol gets a private copy of stdout; fd 1 then points at stderr, so nothing the
# evaluator prints (even from C code) can corrupt the protocol.
_PROTO = os.dup(1)
os.dup2(2, 1)
_CONFIG = json.loads(sys.argv[1])
_CONTRACT = _CONFIG["contract"]
_PATH = _CONFIG["evaluator_path"]
_PRIMARY = _CONFIG.get("primary_metric") or "score"
_OUTPUT_CAP = int(_CONFIG.get("output_cap_bytes") or (1 << 20))
_RESULT_CAP = max(4 * _OUTPUT_CAP, 16 << 20)
_TAIL = 8192
_ARTIFACT_CHARS = 8192
_ARTIFACTS = 32
_STDIN = 0
_SELF = os.path.abspath(__file__)
_input = bytearray()
_module = None
_SHINKA_CODE = None


def _prctl(option, value):
    try:
        _LIBC.prctl(option, value, 0, 0, 0)
    except Exception:
        pass


_prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with evolve
_prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of candidates come back to us


def _send(message):
    data = memoryview((json.dumps(message) + "\n").encode())
    try:
        while data:
            data = data[os.write(_PROTO, data):]
    except OSError:
        _cleanup()
        os._exit(0)


# ---- process tree ---------------------------------------------------------------------------

def _children(pid):
    found = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                found.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return found


def _descendants(root):
    found, stack = [], [root]
    while stack:
        for child in _children(stack.pop()):
            if child not in found:
                found.append(child)
                stack.append(child)
    return found


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _cleanup(ended=()):
    """SIGKILLs every process below this worker (stopping each first, so none forks meanwhile)
    without waiting for them to vanish; returns how many there were, not counting the pids in
    ended (children known to be ending). Zombies are reaped now or at the next job."""
    me = os.getpid()
    killed = set()
    for _ in range(100):
        fresh = [pid for pid in _descendants(me) if pid not in killed]
        if not fresh:
            break
        for pid in fresh:
            _kill(pid, signal.SIGSTOP)
        for pid in fresh:
            killed.add(pid)
            _kill(pid, signal.SIGKILL)
    _reap()
    return len(killed.difference(ended))


# ---- the evaluator --------------------------------------------------------------------------

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


def _load():
    import importlib.util

    directory = os.path.dirname(os.path.abspath(_PATH))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    if _CONTRACT == "openevolve":
        try:
            import openevolve.evaluation_result  # noqa: F401  (the real one wins)
        except Exception:
            _install_openevolve_shim()
        name = "evaluation_module"
    else:
        # Shinka runs the file as __main__ per candidate; importing it here under another name
        # only warms its imports (numpy, ...), which the children then share.
        name = "evolve_shinka_warmup"
    if _CONTRACT == "shinka":
        global _SHINKA_CODE
        with open(_PATH, "rb") as f:
            _SHINKA_CODE = compile(f.read(), _PATH, "exec")
    spec = importlib.util.spec_from_file_location(name, _PATH)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load " + _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if _CONTRACT == "openevolve" and not (
        callable(getattr(module, "evaluate", None)) or callable(getattr(module, "evaluate_stage1", None))
    ):
        raise AttributeError(_PATH + " defines no evaluate(program_path) function")
    return module


def _format_exc():
    """The current exception's traceback without this worker's (and runpy's) frames."""
    kind, value, tb = sys.exc_info()
    frames = [
        frame for frame in traceback.extract_tb(tb)
        if os.path.abspath(frame.filename) != _SELF and not frame.filename.endswith("runpy.py")
    ]
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(frames) if frames else []
    return "".join(lines + traceback.format_exception_only(kind, value))


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fitness(metrics):
    for key in ("combined_score", _PRIMARY):
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


def _run_openevolve(job):
    path = job["program_path"]
    notes = []
    if _CONFIG.get("cascade") and callable(getattr(_module, "evaluate_stage1", None)):
        thresholds = _CONFIG.get("thresholds") or []
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
                stage_metrics, stage_artifacts = _split(run(path), "evaluate_stage%d()" % stage)
            except Exception:
                if stage == 1:
                    raise
                notes.append("cascade stopped: evaluate_stage%d() raised\n%s" % (stage, _format_exc()))
                break
            metrics.update(stage_metrics)
            artifacts.update(stage_artifacts)
            completed = stage
        return {"metrics": metrics, "artifacts": artifacts, "stages": completed, "notes": notes}
    run = getattr(_module, "evaluate", None)
    if not callable(run):
        raise AttributeError("the evaluator defines evaluate_stage1() but no evaluate(), and cascade_evaluation is off")
    metrics, artifacts = _split(run(path), "evaluate()")
    return {"metrics": metrics, "artifacts": artifacts, "stages": 0, "notes": notes}


def _run_shinka(job):
    import types

    sys.argv = [_PATH, "--program_path", job["program_path"], "--results_dir", job["results_dir"]]
    main = types.ModuleType("__main__")
    main.__file__ = _PATH
    main.__builtins__ = __builtins__
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
    return text if len(text) <= _ARTIFACT_CHARS else text[:_ARTIFACT_CHARS] + "..."


def _payload(job):
    try:
        if _CONTRACT == "openevolve":
            out = _run_openevolve(job)
            try:
                metrics_json = json.dumps(out["metrics"], default=_jsonable)
            except Exception as error:
                return {"ok": False, "error": "the metrics are not JSON-serializable: %s" % error}
            artifacts = dict(list(out["artifacts"].items())[:_ARTIFACTS])
            return {
                "ok": True,
                "metrics_json": metrics_json,
                "artifacts": {str(k): _artifact_text(v) for k, v in artifacts.items()},
                "stages": out["stages"],
                "notes": out["notes"],
            }
        return dict(ok=True, **_run_shinka(job))
    except MemoryError:
        return {"ok": False, "memory": True, "error": _format_exc()}
    except BaseException:
        trace = _format_exc()
        sys.stderr.write(trace)
        return {"ok": False, "error": trace}


def _limits():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = _CONFIG.get("memory_mb")
    if memory:
        size = int(memory * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    cpu = _CONFIG.get("cpu_seconds")
    if cpu:
        soft = max(1, int(-(-cpu // 1)))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _child(job, fds):
    r_res, w_res, r_out, w_out, r_err, w_err = fds
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _prctl(1, signal.SIGKILL)
    for fd in (r_res, r_out, r_err, _PROTO):
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(w_out, 1)
    os.dup2(w_err, 2)
    os.close(w_out)
    os.close(w_err)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _limits()
        os.chdir(job["dir"])
        os.environ["EVOLVE_PROGRAM"] = job["program_path"]
        os.environ["EVOLVE_RESULTS_DIR"] = job["results_dir"]
        payload = _payload(job)
        data = json.dumps(payload).encode()
    except BaseException:
        data = json.dumps({"ok": False, "error": traceback.format_exc()}).encode()
    try:  # output first: the worker stops reading once the result is complete
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(w_res, view):]
        os.close(w_res)
    except OSError:
        pass
    os._exit(0)


def _tail(buffer):
    data = bytes(buffer[-_TAIL:])
    return data.decode("utf-8", "replace")


def _result_of(raw):
    try:
        return json.loads(raw), None
    except ValueError:
        return None, "the evaluation process sent an incomplete result (%d bytes)" % len(raw)


_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _kind(mode):
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refusal(error, name, dir_fd=None):
    try:
        mode = os.lstat(name, dir_fd=dir_fd).st_mode
    except OSError:
        mode = None
    if error.errno == errno.ELOOP or (mode is not None and stat.S_ISLNK(mode)):
        return "a symbolic link"
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return _kind(mode)
    return "unreadable (%s)" % (error.strerror or error)


def _open_dir(path, dir_fd=None):
    """A directory the candidate could have replaced: no symlink is followed at the last step."""
    return os.open(path, _NO_FOLLOW | os.O_DIRECTORY, dir_fd=dir_fd)


def _read_file(dir_fd, name):
    """A file of the results dir, which the candidate controls: never follows a symlink, never
    blocks on a FIFO, reads regular files only and at most _OUTPUT_CAP + 1 bytes."""
    try:
        fd = os.open(name, _NO_FOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        return {"refused": _refusal(error, name, dir_fd)}
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return {"refused": _kind(info.st_mode)}
        if info.st_size > _OUTPUT_CAP:
            return {"too_big": info.st_size}
        chunks, size = [], 0
        while size <= _OUTPUT_CAP:
            chunk = os.read(fd, _OUTPUT_CAP + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > _OUTPUT_CAP:
            return {"too_big": size}
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError as error:
        return {"refused": "unreadable (%s)" % (error.strerror or error)}
    finally:
        os.close(fd)


def _collect(job):
    names = job.get("collect") or []
    if not names:
        return {}
    try:
        job_fd = _open_dir(job["dir"])
    except OSError as error:
        return {name: {"refused": "in a candidate dir that is " + _refusal(error, job["dir"])} for name in names}
    try:
        results_fd = _open_dir("results", job_fd)
    except FileNotFoundError:
        return {name: None for name in names}
    except OSError as error:
        return {name: {"refused": "in a results dir that is " + _refusal(error, "results", job_fd)} for name in names}
    finally:
        os.close(job_fd)
    try:
        return {name: _read_file(results_fd, name) for name in names}
    finally:
        os.close(results_fd)


def _remove(job):
    """The candidate dir: a few syscalls when it holds only what the worker made, else rmtree."""
    try:
        fd = _open_dir(job["dir"])  # never through a symlink the candidate put in its place
        try:
            os.unlink(job["program"], dir_fd=fd)
            os.rmdir("results", dir_fd=fd)
        finally:
            os.close(fd)
        os.rmdir(job["dir"])
    except OSError:
        shutil.rmtree(job["dir"], ignore_errors=True)


def _prepare(job):
    job["results_dir"] = os.path.join(job["dir"], "results")
    job["program_path"] = os.path.join(job["dir"], job["program"])
    if os.path.lexists(job["dir"]):
        # A retry after a worker that died before it reported its child: start afresh.
        shutil.rmtree(job["dir"], ignore_errors=True)
    os.mkdir(job["dir"])
    os.mkdir(job["results_dir"])
    fd = os.open(job["program_path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(job["code"])


def _spawn_child():
    """Forks the child for the next job ahead of time (the fork is off the job's path): it waits
    for its job on a pipe of its own. Returns (pid, job pipe, result, stdout and stderr pipes)."""
    r_job, w_job = os.pipe()
    r_res, w_res = os.pipe()
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            _prctl(1, signal.SIGKILL)
            os.close(w_job)
            data = bytearray()
            while True:
                chunk = os.read(r_job, 1 << 20)
                if not chunk:
                    break
                data.extend(chunk)
            os.close(r_job)
            if data:
                _child(json.loads(data), (r_res, w_res, r_out, w_out, r_err, w_err))
        finally:
            os._exit(70)
    for fd in (r_job, w_res, w_out, w_err):
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    return pid, w_job, r_res, r_out, r_err


_spare = None


def _take_spare():
    """The child forked ahead of time if it still waits, else a new one."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None:
        try:
            waiting = os.waitpid(spare[0], os.WNOHANG)[0] == 0
        except ChildProcessError:  # already reaped
            waiting = False
        if waiting:
            return spare
        for fd in spare[1:]:
            os.close(fd)
    return _spawn_child()


def _run_job(job):
    global _spare
    _reap()
    try:
        _prepare(job)
    except OSError as error:
        _send({"type": "setup_error", "id": job["id"], "error": "cannot write the candidate: %s" % error})
        return
    pid, w_job, r_res, r_out, r_err = _take_spare()
    try:
        data = memoryview(json.dumps(job).encode())
        while data:
            data = data[os.write(w_job, data):]
    except OSError:
        pass  # the child is gone: it ends below without a result
    os.close(w_job)
    _send({"type": "started", "id": job["id"], "pid": pid})

    buffers = {r_res: bytearray(), r_out: bytearray(), r_err: bytearray()}
    names = {r_res: "result", r_out: "stdout", r_err: "stderr"}
    selector = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    try:
        pidfd = os.pidfd_open(pid)
        selector.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = None
    selector.register(_STDIN, selectors.EVENT_READ)
    state = {"overflow": None}
    open_fds = set(buffers)

    def read(fd):
        while fd in open_fds:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                selector.unregister(fd)
                open_fds.discard(fd)
                return
            buffers[fd].extend(chunk)
            if state["overflow"] is None:
                output = len(buffers[r_out]) + len(buffers[r_err])
                if output > _OUTPUT_CAP or len(buffers[r_res]) > _RESULT_CAP:
                    state["overflow"] = names[fd]
                    _killpg(pid, signal.SIGKILL)
                    _kill(pid, signal.SIGKILL)
            if len(buffers[r_out]) + len(buffers[r_err]) > _OUTPUT_CAP:
                del buffers[fd][: max(0, len(buffers[fd]) - _TAIL)]
                if fd != r_res:
                    return

    status, result, result_error = None, None, None
    while status is None:
        for key, _ in selector.select(None if pidfd is not None else 0.01):
            if key.fd == _STDIN:
                try:
                    chunk = os.read(_STDIN, 65536)
                except OSError:
                    chunk = b""
                if not chunk:  # evolve is gone
                    _killpg(pid, signal.SIGKILL)
                    _cleanup()
                    os._exit(0)
                _input.extend(chunk)
            elif key.fd in buffers:
                read(key.fd)
        if r_res not in open_fds and state["overflow"] is None and result is None and buffers[r_res]:
            # The child's last act is to send its result: once complete, do not wait for its
            # exit (tearing down a large address space takes milliseconds).
            result, result_error = _result_of(bytes(buffers[r_res]))
            if result is not None:
                read(r_out)
                read(r_err)
                status = 0
                break
        done, waited = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            status = waited
    if pidfd is not None:
        selector.unregister(pidfd)
        os.close(pidfd)
    selector.unregister(_STDIN)
    _killpg(pid, signal.SIGKILL)
    if result is None:
        # Ended without a complete result: its descendants may still hold the pipes.
        leftover = _cleanup()
        deadline = time.monotonic() + 0.5
        while open_fds and time.monotonic() < deadline:
            for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                read(key.fd)
        raw = bytes(buffers[r_res])
        if raw and state["overflow"] != "result":
            result, result_error = _result_of(raw)
    for fd in buffers:
        if fd in open_fds:
            selector.unregister(fd)
        os.close(fd)
    selector.close()

    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "signal %d" % number
        ending = {"signal": name}
    else:
        ending = {"code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}
    message = {
        "type": "done",
        "id": job["id"],
        "exit": ending,
        "result": result,
        "result_error": result_error,
        "stdout": _tail(buffers[r_out]),
        "stderr": _tail(buffers[r_err]),
        "overflow": state["overflow"],
        "leftover": 0,
        "files": {},
    }
    if status == 0 and result is not None:
        # Answer first; then kill whatever the child left behind.
        message["files"] = _collect(job)
        _send(message)
        _cleanup(ended=(pid,))
    else:
        message["leftover"] = leftover
        message["files"] = _collect(job)
        _send(message)
    if job.get("cleanup"):
        _remove(job)
    if _CONFIG.get("prefork"):
        _spare = _spawn_child()


def _lines():
    while True:
        newline = _input.find(b"\n")
        if newline >= 0:
            line = bytes(_input[:newline])
            del _input[: newline + 1]
            yield line
            continue
        try:
            chunk = os.read(_STDIN, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            return
        _input.extend(chunk)


def main():
    global _module, _spare
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _module = _load()
    except BaseException:
        _send({"type": "load_error", "error": _format_exc()})
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    _send({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    if _CONFIG.get("prefork"):
        _spare = _spawn_child()
    for line in _lines():
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError:
            sys.stderr.write("evolve worker: a malformed line on the control pipe, exiting\n")
            break
        if isinstance(job, dict) and job.get("type") == "job":
            _run_job(job)
    _cleanup()


main()
`
