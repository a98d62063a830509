"""ExecuteCommand (ECS Exec).  The answer's `session.streamUrl` is a
WebSocket on this server (server/exec_stream.py) that `portside exec`
connects to with `session.tokenValue`; the AWS CLI's `execute-command`
needs Amazon's session-manager-plugin to use it, which cannot speak to it."""

from __future__ import annotations

from typing import Any

from ..control import exec_sessions
from ..protocol.dispatch import operation
from .context import Context


@operation("ExecuteCommand")
def execute_command(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return exec_sessions.execute_command(ctx, exec_sessions.sessions_of(ctx), params)
