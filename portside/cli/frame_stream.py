"""Reading a session's output frames (domain/execute_command.py) off a
WebSocket: what `portside exec` and `portside logs` (from the agent) share."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from ..domain import execute_command as frames


def copy_output(stream: Iterable[str | bytes]) -> tuple[int, bytes] | None:
    """Copy STDOUT and STDERR frames to this process's own, as they come,
    until an EXIT or ERROR frame, returned as (kind, payload); None when the
    stream ends without one.  Text messages are not frames: passed over."""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for message in stream:
        if isinstance(message, str):
            continue
        kind, payload = frames.parse(message)
        if kind == frames.STDOUT:
            out.write(payload)
            out.flush()
        elif kind == frames.STDERR:
            err.write(payload)
            err.flush()
        elif kind in (frames.EXIT, frames.ERROR):
            return kind, payload
    return None
