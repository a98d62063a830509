"""The agent's channel for desired state: a long poll (ECS agents use a
websocket for this; Portside uses one HTTP request that the server holds until
something changes for the instance or the wait runs out).

`POST /` with `X-Amz-Target: PortsideAgentV1.Poll` and a JSON body
`{"cluster", "containerInstance", "version", "waitSeconds"}` answers
`{"version", "instanceStatus", "tasks": [...]}`: every task on the instance that
is not yet STOPPED, with its containers as the agent must run them (task
definition plus overrides).  Each poll is also the agent's heartbeat.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ..control import report
from ..control.lookup import instance_arn
from ..control.lookup import task_definition as resolve_task_definition
from ..domain import awsvpc
from ..domain.task import effective_containers
from ..protocol import errors
from ..protocol.dispatch import error_body, parse_json
from .common import require_cluster
from .context import Context

TARGET_PREFIX = "PortsideAgentV1"
MAX_WAIT_S = 30.0


async def handle(
    ctx: Context, operation: str, body: bytes, gone: asyncio.Future[Any] | None = None
) -> tuple[int, bytes]:
    try:
        if operation == "SubmitHealth":
            report.health_changed(ctx, _checked_health(parse_json(body) if body.strip() else {}))
            return 200, b'{"acknowledgment":"ACK"}'
        if operation == "ReportAttachment":
            answer = report_attachment(ctx, _checked_report(parse_json(body) if body.strip() else {}))
            return 200, json.dumps(answer).encode()  # the app answers once it is durable
        if operation != "Poll":
            raise errors.UnknownOperationException(f"Operation {operation} is not recognized.")
        params = _checked(parse_json(body) if body.strip() else {})
        return 200, json.dumps(await poll(ctx, params, gone), separators=(",", ":")).encode()
    except errors.ECSError as err:
        return error_body(err)


_HEALTH_STATUSES = ("HEALTHY", "UNHEALTHY", "UNKNOWN")


def _checked_health(params: Any) -> dict[str, Any]:
    """`{"cluster", "task", "containers": [{"containerName", "healthStatus"}]}`:
    the container health an agent saw (ECS's agent sends it over its telemetry
    channel, which has no botocore shape either)."""
    if not isinstance(params, dict):
        raise errors.SerializationException("Expected a JSON object.")
    for name in ("cluster", "task"):
        if not isinstance(params.get(name), str):
            raise errors.SerializationException(f"Unexpected type for '{name}'.")
    containers = params.get("containers")
    if not isinstance(containers, list) or len(containers) > 10:
        raise errors.SerializationException("Unexpected type for 'containers'.")
    for c in containers:
        if (not isinstance(c, dict) or not isinstance(c.get("containerName"), str)
                or c.get("healthStatus") not in _HEALTH_STATUSES):
            raise errors.InvalidParameterException("Each container needs a containerName and a healthStatus.")
    return params


_POLL_MEMBERS: dict[str, type | tuple[type, ...]] = {
    "cluster": str, "containerInstance": str, "version": str, "waitSeconds": (int, float),
}


def _checked(params: Any) -> dict[str, Any]:
    """The poll's members with their JSON types (it has no botocore shape)."""
    if not isinstance(params, dict):
        raise errors.SerializationException("Expected a JSON object.")
    for name, kind in _POLL_MEMBERS.items():
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise errors.SerializationException(f"Unexpected type for '{name}'.")
    wait = params.get("waitSeconds")
    if wait is not None and not 0 <= wait <= 3600:
        raise errors.InvalidParameterException("waitSeconds must be between 0 and 3600.")
    return params


async def poll(
    ctx: Context, params: dict[str, Any], gone: asyncio.Future[Any] | None = None
) -> dict[str, Any]:
    """`gone` completes when the agent hangs up: a dead agent must not count as
    connected for the rest of its poll."""
    cluster = require_cluster(ctx, params.get("cluster"))
    arn = instance_arn(ctx, cluster, str(params.get("containerInstance") or ""))
    instance = ctx.placement.get_instance(arn) if arn else None
    if arn is None or instance is None:
        raise errors.InvalidParameterException("The specified container instance could not be found.")
    report.agent_polls(ctx, arn)  # from now on its connection follows its polls
    wait = min(float(params.get("waitSeconds") or 0), MAX_WAIT_S)
    ctx.heartbeats.poll_started(arn, ctx.clock.now())
    try:
        if wait > 0 and params.get("version") == _version(ctx, arn):
            await ctx.wakeups.wait(arn, ctx.wakeups.version(arn), wait, gone)
    finally:
        ctx.heartbeats.poll_ended(arn, ctx.clock.now())
    instance = ctx.placement.get_instance(arn) or instance
    return {
        "version": _version(ctx, arn),
        "instanceStatus": instance["status"],
        "tasks": [_agent_view(ctx, task) for task in ctx.store.live_tasks_on(arn)],
    }


_REPORT_MEMBERS = ("cluster", "task", "attachmentId", "privateIPv4Address", "macAddress")


def _checked_report(params: Any) -> dict[str, str]:
    """ReportAttachment's members: strings, at most 1,600 characters."""
    if not isinstance(params, dict):
        raise errors.SerializationException("Expected a JSON object.")
    for name in _REPORT_MEMBERS:
        value = params.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= 1600:
            raise errors.InvalidParameterException(f"{name} must be a non-empty string.")
    return params


def report_attachment(ctx: Context, params: dict[str, str]) -> dict[str, str]:
    """The agent gave an awsvpc task its network namespace (control/report.py)."""
    report.attachment_reported(ctx, params)
    return {"acknowledgment": "ACK"}


def _version(ctx: Context, arn: str) -> str:
    return f"{ctx.boot_id}:{ctx.wakeups.version(arn)}"


def _agent_view(ctx: Context, task: dict[str, Any]) -> dict[str, Any]:
    definition = resolve_task_definition(ctx, task["taskDefinitionArn"]) or {"containerDefinitions": []}
    known = {c["name"]: c for c in task["containers"]}
    containers = []
    for c in effective_containers(definition, task.get("overrides")):
        view = dict(c)  # every member: the agent applies each (domain.container_support)
        view["lastStatus"] = known.get(c["name"], {}).get("lastStatus", "PENDING")
        if known.get(c["name"], {}).get("containerArn"):
            view["containerArn"] = known[c["name"]]["containerArn"]
        containers.append(view)
    view = {
        "taskArn": task["taskArn"],
        "clusterArn": task["clusterArn"],
        "family": definition.get("family"),
        "revision": definition.get("revision"),
        "desiredStatus": task["desiredStatus"],
        "lastStatus": task["lastStatus"],
        "networkMode": definition.get("networkMode", "bridge"),
        "volumes": definition.get("volumes", []),
        **{k: definition[k] for k in ("pidMode", "ipcMode", "cpu", "memory") if k in definition},
        # the task's own size (its cgroup's limits on the host): an override replaces the definition's
        **{k: v for k, v in (task.get("overrides") or {}).items() if k in ("cpu", "memory") and v},
        "containers": containers,
    }
    role = (task.get("overrides") or {}).get("taskRoleArn") or definition.get("taskRoleArn")
    if role:  # the agent serves the role's keys to the task's containers (agent/credentials_endpoint.py)
        view["taskRoleArn"] = role
        key = ctx.task_roles.get(role)
        if key is not None:
            view["roleCredentials"] = {"accessKeyId": key.access_key_id, "secretAccessKey": key.secret}
    eni = awsvpc.eni(task)
    if eni is not None:
        view["awsvpc"] = {"attachmentId": eni["id"], "subnet": awsvpc.detail(eni, "subnetId")}
    return view
