"""Runs a command and reports the CPU time of its whole process tree.

    python3 treeLauncher.py REPORT.json -- COMMAND [ARG...]

The launcher makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so a descendant whose
parent exits without waiting for it is re-parented here instead of to init. It starts COMMAND with
the launcher's stdio and environment, waits for it, then reaps every re-parented descendant (after
a grace period it SIGKILLs the ones still running and counts them as leftovers).

Two parts make the tree's CPU time:
- reaped: getrusage(RUSAGE_CHILDREN) at the end. The kernel adds a child's usage (with that of
  the children it waited for) to its parent's when the parent waits for it, so this holds every
  process whose chain of waits reaches the launcher: the command, evaluators, wrappers.
- lost: a process nobody waits for takes its CPU time with it. That happens to every process of
  a pid namespace when the namespace's init dies (the kernel kills them and reaps them itself),
  e.g. a long-lived worker whose wrapper is killed at shutdown, with all the children it waited
  for. The launcher samples /proc every SAMPLE_SECONDS while the tree runs; when processes
  disappear between two samples, the CPU they had at the first (utime + stime + cutime + cstime)
  minus what the survivors' and the launcher's children totals gained meanwhile is counted as
  lost. That is a lower bound (CPU used after the last sample, and by processes too short-lived
  to be sampled, is not seen), small for the idle workers a shutdown kills.

REPORT.json gets: startedNs / exitedNs (time.time_ns() just before the spawn and just after the
command was reaped), exitCode, treeCpuMs (user + system: reaped + lost), reapedCpuMs, lostCpuMs,
commandCpuMs (the command with the children it waited for, from wait4), launcherCpuMs (the
sampling's own cost), samples, leftovers and whether the subreaper flag took. The launcher exits
with the command's exit code (128 + N for signal N).
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
SAMPLE_SECONDS = 0.25
TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def read_processes():
    """pid -> (ppid, start time, own CPU s, CPU s of the children it waited for), from /proc."""
    processes = {}
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
        if len(fields) < 20:
            continue
        utime, stime, cutime, cstime = (int(x) * TICK_SECONDS for x in fields[11:15])
        processes[int(entry)] = (int(fields[1]), int(fields[19]), utime + stime, cutime + cstime)
    return processes


def children_cpu(before):
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime - before


class TreeSampler:
    """Tracks the launcher's descendants and the CPU time of those that vanish without a wait."""

    def __init__(self, before):
        self.before = before
        self.previous = {}
        self.previous_reaped = 0.0
        self.lost = 0.0
        self.samples = 0

    def sample(self):
        me = os.getpid()
        processes = read_processes()
        descends = {}

        def is_descendant(pid):
            seen = []
            while pid not in descends:
                if pid == me or pid not in processes or pid in seen:
                    break
                seen.append(pid)
                pid = processes[pid][0]
            result = descends.get(pid, pid == me)
            for p in seen:
                descends[p] = result
            return result

        current = {}
        for pid, (ppid, start, own, waited) in processes.items():
            if pid != me and is_descendant(pid):
                current[(pid, start)] = (own, waited)
        reaped = children_cpu(self.before)
        gone = sum(own + waited for key, (own, waited) in self.previous.items() if key not in current)
        if gone > 0:
            transferred = reaped - self.previous_reaped + sum(
                max(0.0, current[key][1] - waited) for key, (_, waited) in self.previous.items() if key in current)
            self.lost += max(0.0, gone - transferred)
        self.previous, self.previous_reaped = current, reaped
        self.samples += 1


def own_children():
    """Pids whose parent is this process, for the descendants left running."""
    me = os.getpid()
    return [pid for pid, (ppid, _, _, _) in read_processes().items() if ppid == me]


def reap_descendants(sampler):
    """Waits for every re-parented descendant; SIGKILLs those still alive after the grace period."""
    deadline = time.monotonic() + GRACE_SECONDS
    killed = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            sampler.sample()
            return killed
        if pid != 0:
            continue
        sampler.sample()
        if time.monotonic() < deadline:
            time.sleep(SAMPLE_SECONDS)
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
            sampler.sample()
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
    sampler = TreeSampler(before.ru_utime + before.ru_stime)
    started = time.time_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    # Wait for the command's exit without reaping it, and sample once more: as a zombie it still
    # shows its final CPU, so the work it did after the last sample is not taken for lost CPU.
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        sampler.sample()
        time.sleep(SAMPLE_SECONDS)
    sampler.sample()
    _, status, usage = os.wait4(pid, 0)
    exited = time.time_ns()
    leftovers = reap_descendants(sampler)
    tree = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = ms(tree.ru_utime + tree.ru_stime - before.ru_utime - before.ru_stime)
    launcher = resource.getrusage(resource.RUSAGE_SELF)
    code = os.waitstatus_to_exitcode(status)
    exit_code = code if code >= 0 else 128 - code
    with open(report_path, "w") as f:
        json.dump({
            "startedNs": started,
            "exitedNs": exited,
            "exitCode": exit_code,
            "subreaper": subreaper,
            "leftovers": leftovers,
            "treeCpuMs": round(reaped + ms(sampler.lost), 3),
            "reapedCpuMs": reaped,
            "lostCpuMs": ms(sampler.lost),
            "commandCpuMs": ms(usage.ru_utime + usage.ru_stime),
            "launcherCpuMs": ms(launcher.ru_utime + launcher.ru_stime),
            "samples": sampler.samples,
        }, f)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
