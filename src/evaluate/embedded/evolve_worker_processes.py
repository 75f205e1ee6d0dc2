"""The worker's process tree: candidates' children are found through /proc and killed."""
import os
import signal

try:
    import ctypes

    _LIBC = ctypes.CDLL(None, use_errno=True)
except Exception:
    _LIBC = None


def prctl(option, value):
    try:
        _LIBC.prctl(option, value, 0, 0, 0)
    except Exception:
        pass


prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with evolve
prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of candidates come back to us


def children(pid):
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


def descendants(root):
    found, stack = [], [root]
    while stack:
        for child in children(stack.pop()):
            if child not in found:
                found.append(child)
                stack.append(child)
    return found


def kill(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def cleanup(ended=()):
    """SIGKILLs every process below this worker (stopping each first, so none forks meanwhile)
    without waiting for them to vanish; returns how many there were, not counting the pids in
    ended (children known to be ending). Zombies are reaped now or at the next job."""
    me = os.getpid()
    killed = set()
    for _ in range(100):
        fresh = [pid for pid in descendants(me) if pid not in killed]
        if not fresh:
            break
        for pid in fresh:
            kill(pid, signal.SIGSTOP)
        for pid in fresh:
            killed.add(pid)
            kill(pid, signal.SIGKILL)
    reap()
    return len(killed.difference(ended))
