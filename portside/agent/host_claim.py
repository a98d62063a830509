"""Two agents on one Docker host must not both claim the whole host.

Each registers CPU and memory as its own; two agents that each claim all of a
host's would let the scheduler book it twice.  So an agent on Docker takes a
claim on its engine (by the engine's ID, so two DOCKER_HOST spellings of one
engine are one host): an agent that registers the host's own CPU and memory
(no --cpu-units/--memory-mib) claims it whole, an exclusive `fcntl` lock; one
given both (and its own --host-port-range, agent/host_ports.py) takes a share,
a shared lock.  A whole claim and any other claim
refuse each other, naming the holder; shares coexist.  The kernel drops a
claim when its agent dies, however it dies.

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
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        os.close(self._fd)


def claims_dir() -> Path:
    given = os.environ.get(CLAIMS_DIR_ENV)
    if given:
        return Path(given)
    if os.access(DEFAULT_DIR.parent, os.W_OK):
        return DEFAULT_DIR
    return Path("/tmp") / f"portside-claims-{os.getuid()}"


def claim(engine_id: str, whole: bool) -> HostClaim:
    directory = claims_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"docker-{re.sub(r'[^A-Za-z0-9_.-]', '_', engine_id)[:100]}.lock"
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
