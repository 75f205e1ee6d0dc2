"""The child that runs one job: forked ahead of time when `prefork` is set, it waits for its job
on a pipe, then runs the evaluation in the candidate's dir under rlimits and sends the result."""
import json
import os
import resource
import signal
import sys
import traceback

import evolve_worker_contracts as contracts
import evolve_worker_processes as processes
import evolve_worker_script as script
import evolve_worker_settings as settings


def _limits():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = settings.CONFIG.get("memory_mb")
    if memory:
        size = int(memory * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    cpu = settings.CONFIG.get("cpu_seconds")
    if cpu:
        soft = max(1, int(-(-cpu // 1)))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _child(job, fds):
    r_res, w_res, r_out, w_out, r_err, w_err = fds
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    processes.prctl(1, signal.SIGKILL)
    for fd in (r_res, r_out, r_err, settings.PROTO):
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
    if settings.COMMAND:
        _limits()
        script.run(job, w_res)
    try:
        _limits()
        os.chdir(settings.working_dir(job))
        os.environ["EVOLVE_PROGRAM"] = job["program_path"]
        os.environ["EVOLVE_RESULTS_DIR"] = job["results_dir"]
        payload = contracts.payload(job)
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


def spawn_child():
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
            processes.prctl(1, signal.SIGKILL)
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


def take_spare():
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
    return spawn_child()


def spawn_spare():
    """With `prefork`, the next job's child is forked now, off that job's path."""
    global _spare
    if settings.CONFIG.get("prefork"):
        _spare = spawn_child()
