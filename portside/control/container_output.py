"""`portside logs`: what a task's container printed, as its agent keeps it.

The output of a container without `awslogs` lives on its host only: in
Docker's log while the container exists, then in the agent's kept copy
(agent/output_keeper.py).  The server asks the task's agent for it through
the agent's exec channel, as for ECS Exec (control/exec_sessions.py), and
relays what the agent sends back; nothing of it is stored on the server.
A container with `awslogs` is read from CloudWatch Logs instead (the CLI
does that with GetLogEvents).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..protocol import errors
from .context import Context
from .exec_sessions import CLIENT_WINDOW_S, Session, sessions_of
from .lookup import require_cluster, task_arn

TARGET = "PortsideV1.ContainerOutput"  # what an admin key signs to read output (agent keys may not)


@dataclass(frozen=True)
class OutputRequest:
    cluster: str | None
    task: str
    container: str | None
    follow: bool


def open_output_session(ctx: Context, request: OutputRequest) -> Session:
    """A session for the task's agent to send one container's output on;
    InvalidParameterException (or ClusterNotFoundException, or
    TargetNotConnectedException) when the container cannot be found or its
    agent is not connected."""
    cluster = require_cluster(ctx, request.cluster)
    arn = task_arn(ctx, cluster, request.task)
    task = ctx.store.get_task(arn) if arn else None
    if task is None:
        raise errors.InvalidParameterException(f"The task {request.task} was not found in the cluster.")
    containers = task.get("containers") or []
    if request.container is None:
        if len(containers) != 1:
            names = ", ".join(c["name"] for c in containers)
            raise errors.InvalidParameterException(
                f"The task has {len(containers)} containers ({names}): name one with --container.")
        container = containers[0]
    else:
        matching = [c for c in containers if c["name"] == request.container]
        if not matching:
            raise errors.InvalidParameterException(f"The container {request.container} was not found in the task.")
        container = matching[0]
    instance = task.get("containerInstanceArn")
    registry = sessions_of(ctx)
    if instance is None or not registry.connected(instance):
        raise errors.TargetNotConnectedException(
            "The agent of the task's container instance is not connected, so its output cannot be read.")
    session = Session(
        session_id="portside-logs-" + secrets.token_hex(8),
        client_token="",
        agent_token=secrets.token_urlsafe(32),
        task_arn=task["taskArn"],
        container_name=container["name"],
        command="",
        instance_arn=instance,
        expires=ctx.clock.now() + CLIENT_WINDOW_S,
        client_claimed=True,  # the client is the signed request that opened it
    )
    registry.add(session)
    return session
