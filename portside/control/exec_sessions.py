"""ECS Exec sessions: ExecuteCommand opens one; the stream relay
(server/exec_stream.py) pairs the client's WebSocket with the agent's.

Agents keep a WebSocket open to the server (their *exec channel*, signed
like every agent call) and are asked for each session through it; the agent
then dials back for the session's data.  So an agent host needs no inbound
port, as with the SSM agent behind AWS's ECS Exec.  Sessions live in memory
only: a session not started within `CLIENT_WINDOW_S` of ExecuteCommand, or a
server restart, ends it (the client calls ExecuteCommand again).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..domain import execute_command as rules
from ..domain.status import Status
from ..protocol import errors
from .context import Context
from .lookup import require_cluster, task_arn

Doc = dict[str, Any]

CLIENT_WINDOW_S = 60.0  # the client must open the stream this soon after ExecuteCommand
AGENT_WINDOW_S = 30.0  # the agent must dial back this soon after being asked


@dataclass
class Session:
    session_id: str
    client_token: str
    agent_token: str
    task_arn: str
    container_name: str
    command: str
    instance_arn: str
    expires: float
    client_claimed: bool = False
    agent_claimed: bool = False
    # set by the agent's data connection: (receive, send) of its WebSocket
    agent: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the relay has ended


class ExecSessions:
    """Open sessions by id, and the agents' exec channels by instance ARN."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.channels: dict[str, asyncio.Queue[Doc]] = {}

    def open_channel(self, instance_arn: str) -> asyncio.Queue[Doc]:
        queue: asyncio.Queue[Doc] = asyncio.Queue()
        self.channels[instance_arn] = queue  # a reconnecting agent replaces its old channel
        return queue

    def close_channel(self, instance_arn: str, queue: asyncio.Queue[Doc]) -> None:
        if self.channels.get(instance_arn) is queue:
            del self.channels[instance_arn]

    def connected(self, instance_arn: str | None) -> bool:
        return bool(instance_arn) and instance_arn in self.channels

    def add(self, session: Session) -> None:
        self.sessions[session.session_id] = session

    def _expire(self, now: float) -> None:
        for sid in [s for s, v in self.sessions.items() if v.expires < now and not v.client_claimed]:
            del self.sessions[sid]

    def claim_client(self, session_id: str, token: str, now: float) -> Session | None:
        """The session a client's token opens, once."""
        self._expire(now)
        session = self.sessions.get(session_id)
        if session is None or session.client_claimed or not hmac.compare_digest(session.client_token, token):
            return None
        session.client_claimed = True
        return session

    def claim_agent(self, session_id: str, token: str) -> Session | None:
        session = self.sessions.get(session_id)
        if session is None or session.agent_claimed or not hmac.compare_digest(session.agent_token, token):
            return None
        session.agent_claimed = True
        return session

    def ask_agent(self, session: Session, tty: bool, cols: int, rows: int) -> bool:
        queue = self.channels.get(session.instance_arn)
        if queue is None:
            return False
        queue.put_nowait({"sessionId": session.session_id, "token": session.agent_token, "taskArn": session.task_arn,
                          "containerName": session.container_name, "command": session.command, "tty": tty,
                          "cols": cols, "rows": rows})
        return True

    def ask_agent_for_output(self, session: Session, follow: bool) -> bool:
        """Ask the session's agent for a container's output (`portside logs`,
        control/container_output.py); False when its channel is gone."""
        queue = self.channels.get(session.instance_arn)
        if queue is None:
            return False
        queue.put_nowait({"kind": "logs", "sessionId": session.session_id, "token": session.agent_token,
                          "taskArn": session.task_arn, "containerName": session.container_name, "follow": follow})
        return True

    def end(self, session: Session) -> None:
        self.sessions.pop(session.session_id, None)
        session.done.set()


def execute_command(ctx: Context, sessions: ExecSessions, params: Doc) -> Doc:
    """ExecuteCommand: check the task and container as ECS does, then open a
    session whose stream URL the client connects to."""
    if not params["interactive"]:
        raise errors.InvalidParameterException("Interactive is the only mode supported currently.")
    try:
        argv = shlex.split(params["command"])
    except ValueError as exc:
        raise errors.InvalidParameterException(f"The command could not be parsed: {exc}.") from exc
    if not argv:
        raise errors.InvalidParameterException("The command cannot be empty.")
    cluster = require_cluster(ctx, params.get("cluster"))
    arn = task_arn(ctx, cluster, params["task"])
    task = ctx.store.get_task(arn) if arn else None
    if task is None:
        raise errors.InvalidParameterException("The specified task was not found.")
    if not task.get("enableExecuteCommand"):
        raise errors.InvalidParameterException(rules.NOT_ENABLED)
    if task["lastStatus"] != "RUNNING" or task["desiredStatus"] != "RUNNING":
        raise errors.InvalidParameterException(
            f"The execute command failed because the task is {task['lastStatus']}; it must be RUNNING.")
    containers = task["containers"]
    name = params.get("container")
    if name is None:
        if len(containers) != 1:
            raise errors.InvalidParameterException(
                "The task has more than one container: specify the container to run the command in.")
        container = containers[0]
    else:
        matching = [c for c in containers if c["name"] == name]
        if not matching:
            raise errors.InvalidParameterException(f"The container {name} was not found in the task.")
        container = matching[0]
    if Status.of(container["lastStatus"]) != Status.RUNNING or not rules.agent_running(container):
        raise errors.InvalidParameterException(rules.NOT_ENABLED)
    instance = task.get("containerInstanceArn")
    if instance is None or not sessions.connected(instance):
        raise errors.TargetNotConnectedException(
            "The execute command failed because the agent of the task's container instance is not connected. "
            "Try again later.")
    session = Session(
        session_id="ecs-execute-command-" + secrets.token_hex(9)[:17],
        client_token=secrets.token_urlsafe(32),
        agent_token=secrets.token_urlsafe(32),
        task_arn=task["taskArn"],
        container_name=container["name"],
        command=params["command"],
        instance_arn=instance,
        expires=ctx.clock.now() + CLIENT_WINDOW_S,
    )
    sessions.add(session)
    endpoint = ctx.config.endpoint.rstrip("/")
    stream = ("wss://" + endpoint[8:]) if endpoint.startswith("https://") else "ws://" + endpoint.split("://", 1)[-1]
    return {
        "clusterArn": cluster["clusterArn"],
        "containerArn": container.get("containerArn"),
        "containerName": container["name"],
        "interactive": True,
        "session": {"sessionId": session.session_id,
                    "streamUrl": f"{stream}/portside/exec/session/{session.session_id}",
                    "tokenValue": session.client_token},
        "taskArn": task["taskArn"],
    }


def sessions_of(ctx: Context) -> ExecSessions:
    """The server's one registry (made on first use: Context knows no use case)."""
    if ctx.exec_sessions is None:
        ctx.exec_sessions = ExecSessions()
    registry: ExecSessions = ctx.exec_sessions
    return registry
