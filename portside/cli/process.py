"""Process plumbing shared by the commands: leaving at once, and children
that die with their parent."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def exit_now(code: int) -> None:
    """Flush and leave without joining worker threads.

    A Docker SDK call blocked on a running container (`wait`) holds a pool
    thread for as long as the container runs; interpreter shutdown would join
    it, so a stopping agent would hang for the container's lifetime."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def die_with_parent(parent_pid: int) -> None:
    """For `preexec_fn`: the child gets SIGTERM when its parent dies, however
    it dies (`kill -9` included), and stops cleanly instead of running on
    orphaned (Linux only; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
