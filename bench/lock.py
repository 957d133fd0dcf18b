"""One run per results folder: `run` and `sweep` hold `.xorbench.lock` in --out while they write there.

The lock file names its holder (PID and command). The holder also keeps an advisory lock (flock) on
the file for as long as it lives, and the kernel drops that lock when the process ends, however it
ends: a lock file left by a dead process (killed, crashed) is stale and the next run takes it over;
one whose flock is held belongs to a live run, and a second run into the folder is refused, naming
it. The holder removes the file on every way out of `hold`.

The file is opened without following a link (O_NOFOLLOW) and must be a regular file with one name:
a link or a hard link planted in --out would otherwise make the run write into a file elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK = ".xorbench.lock"


class Held(Exception):
    """Another live run holds the folder."""

    def __init__(self, out: Path, holder: str):
        super().__init__(f"--out {out} is in use by another xorbench run ({holder}): wait for it to end, "
                         "or choose another --out")  # fmt: skip
        self.holder = holder


class NotALock(Exception):
    """The lock's path holds something a run must not write into: a link, a hard link, a device, a folder."""

    def __init__(self, path: Path, what: str):
        super().__init__(f"{path} is {what}, not a lock file xorbench made: remove it, or choose another --out")


@contextlib.contextmanager
def hold(out: Path, command: str) -> Iterator[None]:
    """Hold `out` for this process while the block runs; raise Held if a live run holds it."""
    path = Path(out) / LOCK
    fd = acquire(path, command)
    try:
        yield
    finally:
        release(path, fd)


def acquire(path: Path, command: str) -> int | None:
    """The lock file's descriptor, this process's PID written in it; None where the file system has no
    locks (a warning: the folder is then not protected)."""
    for _ in range(100):  # another run may remove the file between our open and our flock: try again
        fd = open_regular(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_text(fd)
            os.close(fd)
            raise Held(path.parent, holder) from None
        except OSError as error:  # no flock here (some network file systems): go on unprotected
            os.close(fd)
            print(f"warning: {path.parent} cannot be locked ({error.strerror}): another run into it would "
                  "not be stopped", file=sys.stderr)  # fmt: skip
            return None
        if same_file(fd, path):
            try:  # the flock is the lock; the text only names its holder to a run it turns away
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"PID {os.getpid()}: {command}\n".encode("utf-8", "backslashreplace"), 0)
            except OSError:  # a full disk: the run itself will say so, in one line
                pass
            return fd
        os.close(fd)  # we locked a file its holder has just removed: lock the new one
    raise RuntimeError(f"could not lock {path}")


def open_regular(path: Path) -> int:
    """A descriptor on the lock file, created if absent; NotALock for anything but a plain regular file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotALock(path, "a symbolic link") from None
        if error.errno == errno.EISDIR:
            raise NotALock(path, "a folder") from None
        raise
    info = os.fstat(fd)
    what = "a special file" if not stat.S_ISREG(info.st_mode) else "a hard link" if info.st_nlink > 1 else ""
    if what:
        os.close(fd)
        raise NotALock(path, what)
    return fd


def holder(out: Path) -> str | None:
    """Who holds `out` now (the lock file's first line), or None where no live run does."""
    try:
        fd = os.open(Path(out) / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # free: the file is a dead run's
        return None
    except BlockingIOError:
        return holder_text(fd)
    except OSError:  # no locks on this file system: nothing can be said
        return None
    finally:
        os.close(fd)  # drops the shared lock, if taken


def holder_text(fd: int) -> str:
    """The first line of a held lock file: who holds it."""
    text = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip() or "PID not yet written"
    return text.splitlines()[0]


def same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False


def release(path: Path, fd: int | None) -> None:
    """Remove the lock file (still ours: we hold its flock), then let go of the flock."""
    if fd is None:
        return
    try:
        if same_file(fd, path):
            path.unlink()
    except OSError:  # an unremovable file is taken over as stale by the next run
        pass
    finally:
        os.close(fd)
