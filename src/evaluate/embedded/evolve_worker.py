# evolve warm evaluation worker: written by evolve at pool start, do not edit.
"""evolve's warm Python worker: one per evaluation slot.

At start it imports the evaluator module once (evolve_worker_contracts), then, for each job line
on stdin, hands the job to a child (evolve_worker_child) that runs the evaluation in the
candidate's temp dir under rlimits and reports back over a pipe; the worker answers on its private
protocol fd. With `prefork` the child is forked ahead of time, after the previous job's cleanup,
and waits for its job on a pipe: the fork is off the candidate's path.

Protocol (one JSON object per line):
  evolve -> worker (stdin):  {"type": "job", "id", "dir", "program", "code", "collect", "cleanup"[, "tree"]}
    The worker creates dir/ and dir/results/, writes the code to dir/<program> (or, with "tree",
    links the files of that directory made by evolve to dir/<program>/), and after the
    run sends back the text of the `collect` files of dir/results/ (capped), then removes dir/
    when `cleanup` is set: evolve does no per-candidate file work.
  worker -> evolve:          {"type": "ready", "pid", "python"}
                             {"type": "load_error", "error"}            (then it exits)
                             {"type": "started", "id", "pid"}           (the child's pid = its pgid)
                             {"type": "done", "id", "exit": {"code"} | {"signal"}, "result",
                              "result_error", "stdout", "stderr", "overflow", "leftover", "files"}

The `collect` files are the candidate's to tamper with (evolve_worker_files). The worker is a
child subreaper, so a grandchild orphaned by the child is reparented to the worker, which kills
and reaps every process left below it after each job (evolve_worker_processes). evolve enforces
the wall-clock timeout itself by signalling the child's process group and process tree.
"""
import json
import os
import selectors
import signal
import sys
import time

import evolve_worker_settings as settings  # first: it moves stdout aside for the protocol
import evolve_worker_child as child
import evolve_worker_contracts as contracts
import evolve_worker_files as files
import evolve_worker_processes as processes
import evolve_worker_script as script

_input = bytearray()


def _send(message):
    data = memoryview((json.dumps(message) + "\n").encode())
    try:
        while data:
            data = data[os.write(settings.PROTO, data):]
    except OSError:
        processes.cleanup()
        os._exit(0)


def _output(stdout, stderr):
    """The bytes of output measured against the cap: per stream for the command contract, as
    when it starts cold; both streams together for the others."""
    return max(stdout, stderr) if settings.COMMAND else stdout + stderr


def _tail(buffer, size):
    data = bytes(buffer[-size:])
    return data.decode("utf-8", "replace")


def _result_of(raw):
    try:
        return json.loads(raw), None
    except ValueError:
        return None, "the evaluation process sent an incomplete result (%d bytes)" % len(raw)


def _run_job(job):
    processes.reap()
    try:
        files.prepare(job)
    except OSError as error:
        _send({"type": "setup_error", "id": job["id"], "error": "cannot write the candidate: %s" % error})
        return
    pid, w_job, r_res, r_out, r_err = child.take_spare()
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
    selector.register(settings.STDIN, selectors.EVENT_READ)
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
                output = _output(len(buffers[r_out]), len(buffers[r_err]))
                if output > settings.OUTPUT_CAP or len(buffers[r_res]) > settings.RESULT_CAP:
                    state["overflow"] = names[fd]
                    processes.killpg(pid, signal.SIGKILL)
                    processes.kill(pid, signal.SIGKILL)
            if _output(len(buffers[r_out]), len(buffers[r_err])) > settings.OUTPUT_CAP:
                del buffers[fd][: max(0, len(buffers[fd]) - settings.TAIL)]
                if fd != r_res:
                    return

    status, result, result_error = None, None, None
    while status is None:
        for key, _ in selector.select(None if pidfd is not None else 0.01):
            if key.fd == settings.STDIN:
                try:
                    chunk = os.read(settings.STDIN, 65536)
                except OSError:
                    chunk = b""
                if not chunk:  # evolve is gone
                    processes.killpg(pid, signal.SIGKILL)
                    processes.cleanup()
                    os._exit(0)
                _input.extend(chunk)
            elif key.fd in buffers:
                read(key.fd)
        if not settings.COMMAND and r_res not in open_fds and state["overflow"] is None and result is None and buffers[r_res]:
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
    selector.unregister(settings.STDIN)
    processes.killpg(pid, signal.SIGKILL)
    if result is None:
        # Ended without a complete result: its descendants may still hold the pipes.
        leftover = processes.cleanup()
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
        # The command contract takes its metrics from the last line of stdout: all of it.
        "stdout": _tail(buffers[r_out], settings.OUTPUT_CAP if settings.COMMAND else settings.TAIL),
        "stderr": _tail(buffers[r_err], settings.TAIL),
        "overflow": state["overflow"],
        "leftover": 0,
        "files": {},
    }
    if status == 0 and result is not None:
        # Answer first; then kill whatever the child left behind.
        message["files"] = files.collect(job)
        _send(message)
        processes.cleanup(ended=(pid,))
    else:
        message["leftover"] = leftover
        message["files"] = files.collect(job)
        _send(message)
    if job.get("cleanup"):
        files.remove(job)
    if settings.COMMAND and isinstance(result, dict) and isinstance(result.get("modules"), list):
        script.preload([name for name in result["modules"] if isinstance(name, str)])
    child.spawn_spare()


def _lines():
    while True:
        newline = _input.find(b"\n")
        if newline >= 0:
            line = bytes(_input[:newline])
            del _input[: newline + 1]
            yield line
            continue
        try:
            chunk = os.read(settings.STDIN, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            return
        _input.extend(chunk)


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        contracts.load()
    except BaseException:
        _send({"type": "load_error", "error": contracts.format_exc()})
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    _send({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    child.spawn_spare()
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
    processes.cleanup()


main()
