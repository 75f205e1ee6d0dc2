"""The candidate's dir: written before the job, its result files read back without trusting
them (no symlink followed, no FIFO blocked on, capped), removed afterwards."""
import errno
import os
import shutil
import stat

import evolve_worker_settings as settings


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
    blocks on a FIFO, reads regular files only and at most settings.OUTPUT_CAP + 1 bytes."""
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
        if info.st_size > settings.OUTPUT_CAP:
            return {"too_big": info.st_size}
        chunks, size = [], 0
        while size <= settings.OUTPUT_CAP:
            chunk = os.read(fd, settings.OUTPUT_CAP + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > settings.OUTPUT_CAP:
            return {"too_big": size}
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError as error:
        return {"refused": "unreadable (%s)" % (error.strerror or error)}
    finally:
        os.close(fd)


def collect(job):
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


def remove(job):
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


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
        os.chmod(dst, 0o644)


def prepare(job):
    job["results_dir"] = os.path.join(job["dir"], "results")
    job["program_path"] = os.path.join(job["dir"], job["program"])
    if os.path.lexists(job["dir"]):
        # A retry after a worker that died before it reported its child: start afresh.
        shutil.rmtree(job["dir"], ignore_errors=True)
    os.mkdir(job["dir"])
    os.mkdir(job["results_dir"])
    if job.get("tree"):
        # A multi-file candidate, made by evolve: linked (a retry finds it again), copied across devices.
        shutil.copytree(job["tree"], job["program_path"], symlinks=True, copy_function=_link_or_copy)
        return
    fd = os.open(job["program_path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(job["code"])
