"""One process per directory: an `fcntl` lock on a file that names its holder.

Two servers on one SQLite file would both schedule (and each would trust its
own in-memory pool), and two agents under one instance ARN would start every
task twice; so each takes an exclusive lock first and refuses to start, naming
the holder's pid, when another process has it.  The kernel drops the lock when
the holder dies, however it dies (`kill -9` included): a stale lock file never
blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockHeld(Exception):
    """Another live process holds the lock; the message is one line."""

    def __init__(self, path: Path, holder: str, what: str) -> None:
        pid = holder or "unknown"
        super().__init__(f"another {what} (pid {pid}) is already using {path.parent}; "
                         f"stop it first, or use another data dir (lock: {path})")
        self.path = path
        self.pid = int(holder) if holder.isdigit() else None


class DirLock:
    """An exclusive lock held for the life of the process (or until `release`).

    The lock file holds the pid of its holder, written after the lock is taken,
    so that the refused process can say who holds it."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> DirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise LockHeld(self.path, holder, self.what) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same, only its holder goes unnamed
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def holder_pid(path: Path) -> int | None:
    """The pid written in a lock file (whether or not it is still held)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
