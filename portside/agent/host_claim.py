"""Two agents on one Docker host must not both claim the whole host.

Each registers CPU and memory as its own; two agents that each claim all of a
host's would let the scheduler book it twice.  So an agent on Docker takes a
claim on its engine (by the engine's ID, so two DOCKER_HOST spellings of one
engine are one host): an agent that registers the host's own CPU and memory
(no --cpu-units/--memory-mib) claims it whole, an exclusive `fcntl` lock; one
given both takes a share, a shared lock.  A whole claim and any other claim
refuse each other, naming the holder; shares coexist.  The kernel drops a
claim when its agent dies, however it dies.

Sharing agents must not publish the same host ports either, so each share
also records its --host-port-range (agent/host_ports.py) in a file of its
own, locked for the agent's life: a share may run without a range only while
it is the host's only agent, and ranges must not overlap.  Those checks run
under a short exclusive lock so two agents starting together see each other.

Claims live in /run/lock/portside (PORTSIDE_CLAIMS_DIR overrides it, as the
test suite does so that concurrent runs on one machine do not meet).
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

CLAIMS_DIR_ENV = "PORTSIDE_CLAIMS_DIR"
DEFAULT_DIR = Path("/run/lock/portside")


class HostClaimed(Exception):
    """Another agent's claim conflicts with this one; the message is one line."""


class HostClaim:
    def __init__(self, *fds: int) -> None:
        self._fds = fds

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)


def claims_dir() -> Path:
    given = os.environ.get(CLAIMS_DIR_ENV)
    if given:
        return Path(given)
    if os.access(DEFAULT_DIR.parent, os.W_OK):
        return DEFAULT_DIR
    return Path("/tmp") / f"portside-claims-{os.getuid()}"


def claim(engine_id: str, whole: bool, port_range: tuple[int, int] | None = None) -> HostClaim:
    directory = claims_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"docker-{re.sub(r'[^A-Za-z0-9_.-]', '_', engine_id)[:100]}"
    path = directory / f"{stem}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if whole else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if holder:
            who = f"another portside agent (pid {holder}) claims this whole Docker host"
        else:
            who = "other portside agents share this Docker host"
        raise HostClaimed(f"{who}; give every agent on one Docker host its own share with --cpu-units, "
                          f"--memory-mib and --host-port-range (claims: {path})") from None
    os.ftruncate(fd, 0)  # a pid left by a whole claim that has ended goes
    if whole:
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return HostClaim(fd)
    try:
        share = _record_share(directory, stem, port_range)
    except HostClaimed:
        os.close(fd)
        raise
    return HostClaim(fd, share)


def _record_share(directory: Path, stem: str, port_range: tuple[int, int] | None) -> int:
    """Check this share's port range against the other live shares' and
    record it (a file locked for the agent's life); the file's descriptor."""
    mutex = os.open(directory / f"{stem}.check", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        others = _live_shares(directory, stem)
        for pid, other in others.items():
            if port_range is None or other is None:
                raise HostClaimed(
                    f"another portside agent (pid {pid}) shares this Docker host: agents sharing one host need "
                    f"their own --host-port-range each, so they do not publish the same ports"
                    + ("" if other is not None else f" (pid {pid} has none)"))
            if port_range[0] <= other[1] and other[0] <= port_range[1]:
                raise HostClaimed(f"--host-port-range {port_range[0]}-{port_range[1]} overlaps the range "
                                  f"{other[0]}-{other[1]} of the portside agent (pid {pid}) sharing this Docker host")
        mine = directory / f"{stem}.share-{os.getpid()}"
        fd = os.open(mine, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, (f"{port_range[0]}-{port_range[1]}" if port_range else "none").encode(), 0)
        return fd
    finally:
        os.close(mutex)


def _live_shares(directory: Path, stem: str) -> dict[int, tuple[int, int] | None]:
    """The ranges of the shares whose agents still run (a share file nobody
    holds locked is left by an agent that has died: it is removed)."""
    live: dict[int, tuple[int, int] | None] = {}
    for path in directory.glob(f"{stem}.share-*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: its agent runs
                text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                low, _, high = text.partition("-")
                pid = int(path.name.rpartition("-")[2])
                live[pid] = (int(low), int(high)) if low.isdigit() and high.isdigit() else None
            else:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return live
