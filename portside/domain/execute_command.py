"""ECS Exec's rules as pure functions: the `ExecuteCommandAgent` a task run
with `enableExecuteCommand` reports on each container, and the stream's frames.

The stream between `portside exec`, the server and the agent is a WebSocket
of binary frames, each one type byte then its payload:

    client → agent:  STDIN data, STDIN_EOF, RESIZE {"cols", "rows"} (JSON)
    agent → client:  STDOUT data, STDERR data, EXIT {"exitCode"} (JSON),
                     ERROR message (UTF-8)

The server relays frames without reading them, once both ends are there.
"""

from __future__ import annotations

import json
from typing import Any

Doc = dict[str, Any]

AGENT_NAME = "ExecuteCommandAgent"

STDIN, STDIN_EOF, RESIZE = 0, 1, 2
STDOUT, STDERR, EXIT, ERROR = 16, 17, 18, 19

NOT_ENABLED = ("The execute command failed because execute command was not enabled when the task was run or the "
               "execute command agent isn't running. Wait and try the command again or run a new task with "
               "execute command enabled and try again.")


def frame(kind: int, payload: bytes | str | Doc = b"") -> bytes:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return bytes([kind]) + payload


def parse(message: bytes) -> tuple[int, bytes]:
    if not message:
        raise ValueError("empty frame")
    return message[0], message[1:]


def update_managed_agents(task: Doc, now: float) -> None:
    """A task run with enableExecuteCommand: its containers' ExecuteCommandAgent
    runs while the container runs (ECS starts it inside each container)."""
    if not task.get("enableExecuteCommand"):
        return
    for container in task["containers"]:
        status = container.get("lastStatus")
        agents = container.get("managedAgents") or [{"name": AGENT_NAME, "lastStatus": "PENDING"}]
        agent = agents[0]
        if status == "RUNNING" and agent["lastStatus"] != "RUNNING":
            agent.update(lastStatus="RUNNING", lastStartedAt=now)
        elif status == "STOPPED" and agent["lastStatus"] != "STOPPED":
            agent["lastStatus"] = "STOPPED"
        container["managedAgents"] = agents


def agent_running(container: Doc) -> bool:
    return any(a.get("name") == AGENT_NAME and a.get("lastStatus") == "RUNNING"
               for a in container.get("managedAgents") or [])
