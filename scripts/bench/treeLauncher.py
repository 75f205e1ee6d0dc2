"""Runs a command and reports the CPU time of its whole process tree.

    python3 treeLauncher.py REPORT.json -- COMMAND [ARG...]

The launcher makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so a descendant whose
parent exits without waiting for it is re-parented here instead of to init. It starts COMMAND with
the launcher's stdio and environment, waits for it, then reaps every re-parented descendant (after
a grace period it SIGKILLs the ones still running and counts them as leftovers). At that point
getrusage(RUSAGE_CHILDREN) holds the CPU time of every process of the tree: the command itself,
and each descendant, because the kernel adds a child's usage (with its own waited-for children)
to its parent's when the parent waits for it.

REPORT.json gets: startedNs / exitedNs (time.time_ns() just before the spawn and just after the
command was reaped), exitCode, treeCpuMs (user, system), commandCpuMs (the command with the
children it waited for, from wait4), leftovers and whether the subreaper flag took. The launcher
exits with the command's exit code (128 + N for signal N).
"""
import ctypes
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 5.0


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children():
    """Pids whose parent is this process (from /proc), for the descendants left running."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            pids.append(int(entry))
    return pids


def reap_descendants():
    """Waits for every re-parented descendant; SIGKILLs those still alive after the grace period."""
    deadline = time.monotonic() + GRACE_SECONDS
    killed = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return killed
        if pid != 0:
            continue
        if time.monotonic() < deadline:
            time.sleep(0.02)
            continue
        for child in own_children():
            try:
                os.kill(child, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        deadline = float("inf")
        try:
            while True:
                os.waitpid(-1, 0)
        except ChildProcessError:
            return killed


def ms(seconds):
    return round(seconds * 1000, 3)


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: treeLauncher.py REPORT.json -- COMMAND [ARG...]\n")
        return 2
    report_path, argv = sys.argv[1], sys.argv[3:]
    subreaper = become_subreaper()
    # An interpreter started through a wrapper (a pyenv shim) inherits the CPU of the wrapper's
    # children across exec: only what comes after this point belongs to COMMAND.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    exited = time.time_ns()
    leftovers = reap_descendants()
    tree = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = os.waitstatus_to_exitcode(status)
    exit_code = code if code >= 0 else 128 - code
    with open(report_path, "w") as f:
        json.dump({
            "startedNs": started,
            "exitedNs": exited,
            "exitCode": exit_code,
            "subreaper": subreaper,
            "leftovers": leftovers,
            "treeCpuMs": {"user": ms(tree.ru_utime - before.ru_utime), "system": ms(tree.ru_stime - before.ru_stime)},
            "commandCpuMs": {"user": ms(usage.ru_utime), "system": ms(usage.ru_stime)},
        }, f)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
