"""A container's output, kept by the agent after the container is removed.

The agent removes a task's containers once the task has stopped, and Docker's
log goes with them: a task that printed `FATAL: cannot connect to db` and
exited would leave nothing to read.  So before removing a container the agent
copies the last `KEEP_BYTES` of its output (stdout and stderr as Docker
interleaves them, cut at a line start) into its data dir, one file per
container (`container-output/TASK-ID/CONTAINER-NAME.log`, written whole and
renamed into place).  `portside logs` reads it through the server (the exec
channel: agent/exec_channel.py).

All kept files together stay under `TOTAL_BYTES` and `MAX_FILES`: the oldest go first.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger("portside.agent.output")

KEEP_BYTES = 1 << 20  # per container
TOTAL_BYTES = 256 << 20  # for all the kept files of this agent
MAX_FILES = 5000  # and no more containers than this
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def last_bytes(data: bytes, limit: int = KEEP_BYTES) -> bytes:
    """The end of `data` within `limit` bytes, starting at a line (a single
    line longer than the limit keeps its end)."""
    if len(data) <= limit:
        return data
    tail = data[-limit:]
    newline = tail.find(b"\n")
    return tail[newline + 1:] if 0 <= newline < len(tail) - 1 else tail


class OutputKeeper:
    def __init__(self, data_dir: Path, total_bytes: int = TOTAL_BYTES, max_files: int = MAX_FILES) -> None:
        self.directory = data_dir / "container-output"
        self.total_bytes = total_bytes
        self.max_files = max_files

    def _path(self, task_arn: str, container_name: str) -> Path:
        task_id = _SAFE.sub("_", task_arn.rsplit("/", 1)[-1])
        return self.directory / task_id / (_SAFE.sub("_", container_name) + ".log")

    def keep(self, task_arn: str, container_name: str, output: bytes) -> None:
        """Keep a removed container's output (its last KEEP_BYTES)."""
        path = self._path(task_arn, container_name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(last_bytes(output))
            os.replace(tmp, path)
            self._prune()
        except OSError as exc:  # a full disk must not stop the agent: the output is lost, said once here
            log.warning("could not keep the output of %s in %s: %s", container_name, path, exc)

    def read(self, task_arn: str, container_name: str) -> bytes | None:
        """A removed container's kept output, or None when none is kept."""
        try:
            return self._path(task_arn, container_name).read_bytes()
        except OSError:
            return None

    def _prune(self) -> None:
        files = []
        for path in self.directory.glob("*/*.log"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        total, count = sum(size for _, size, _ in files), len(files)
        for _, size, path in sorted(files):
            if total <= self.total_bytes and count <= self.max_files:
                break
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # the task's directory, once empty
            except OSError:
                pass
            total -= size
            count -= 1
