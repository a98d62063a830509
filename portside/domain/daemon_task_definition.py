"""Daemon task definitions (RegisterDaemonTaskDefinition and friends) as
pure functions.

A daemon task definition is a smaller TaskDefinition: its container
definitions are ContainerDefinition members, its volumes host bind mounts.
Rather than a second set of rules, a daemon task definition is checked and
run as the TaskDefinition it amounts to (`as_task_definition`): the same
`task_definition.build` validates it (so every container member is applied
or refused by the one table in `container_support`), and the agent runs a
daemon's task from that document like any other task's.
"""

from __future__ import annotations

import copy
import re

from . import task_definition as td
from .documents import Doc

FAMILY = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
STATUSES = ("ACTIVE", "DELETE_IN_PROGRESS", "DELETED")

# pidMode / ipcMode: `shared` joins the host's namespace (Docker --pid/--ipc host);
# `none` (the default) is the task's own namespace, Docker's default.
_NAMESPACE = {"shared": "host"}


class InvalidDaemonTaskDefinition(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _volume_problem(volume: Doc) -> str | None:
    if volume.get("logDriverVolumeConfiguration") is not None:
        return (f"'logDriverVolumeConfiguration' (volume '{volume.get('name')}') is not supported by Portside: "
                "the server does not know where an agent's Docker engine keeps other tasks' log files; "
                "mount that directory with 'host.sourcePath' instead.")
    return None


def as_task_definition(doc: Doc) -> Doc:
    """The TaskDefinition a daemon task definition (its wire document, or a
    RegisterDaemonTaskDefinition request with `daemonTaskDefinitionArn` and
    `revision` added) amounts to: what daemon tasks are started from and
    what the agent runs.  Raises `task_definition.InvalidTaskDefinition`."""
    params: Doc = {
        "family": doc["family"],
        "containerDefinitions": copy.deepcopy(doc["containerDefinitions"]),
        "volumes": copy.deepcopy(doc.get("volumes") or []),
    }
    for member in ("taskRoleArn", "executionRoleArn", "cpu", "memory"):
        if doc.get(member) is not None:
            params[member] = doc[member]
    for member in ("pidMode", "ipcMode"):
        mode = _NAMESPACE.get(doc.get(member) or "none")
        if mode:
            params[member] = mode
    built = td.build(params, arn=doc["daemonTaskDefinitionArn"], revision=doc["revision"],
                     registered_at=doc.get("registeredAt", 0.0), registered_by=doc.get("registeredBy", ""))
    built["status"] = "ACTIVE" if doc.get("status", "ACTIVE") == "ACTIVE" else "INACTIVE"
    return built


def build(params: Doc, *, arn: str, revision: int, registered_at: float, registered_by: str) -> Doc:
    """The DaemonTaskDefinition document for a RegisterDaemonTaskDefinition
    request, checked by what it amounts to; raises InvalidDaemonTaskDefinition."""
    if not FAMILY.match(params["family"]):
        raise InvalidDaemonTaskDefinition(
            "Family contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, "
            "underscores and hyphens are allowed.")
    if not params["containerDefinitions"]:
        raise InvalidDaemonTaskDefinition("Container definitions cannot be empty.")
    for volume in params.get("volumes") or []:
        problem = _volume_problem(volume)
        if problem:
            raise InvalidDaemonTaskDefinition(problem)
    doc: Doc = {
        "daemonTaskDefinitionArn": arn,
        "family": params["family"],
        "revision": revision,
        "containerDefinitions": copy.deepcopy(params["containerDefinitions"]),
        "volumes": copy.deepcopy(params.get("volumes") or []),
        "status": "ACTIVE",
        "registeredAt": registered_at,
        "registeredBy": registered_by,
        "pidMode": params.get("pidMode") or "none",
        "ipcMode": params.get("ipcMode") or "none",
    }
    for member in ("taskRoleArn", "executionRoleArn", "cpu", "memory"):
        if params.get(member) is not None:
            doc[member] = params[member]
    try:
        runnable = as_task_definition(doc)
    except td.InvalidTaskDefinition as exc:
        raise InvalidDaemonTaskDefinition(exc.message) from exc
    for container in doc["containerDefinitions"]:  # the defaults ECS fills in, as the runnable one has them
        made = next(c for c in runnable["containerDefinitions"] if c.get("name") == container.get("name"))
        container.setdefault("essential", made.get("essential", True))
    for member in ("cpu", "memory"):
        if runnable.get(member) is not None:
            doc[member] = runnable[member]
    return doc


def summary(doc: Doc) -> Doc:
    """The DaemonTaskDefinitionSummary shape."""
    shown = {"arn": doc["daemonTaskDefinitionArn"]}
    for member in ("registeredAt", "registeredBy", "deleteRequestedAt", "status"):
        if doc.get(member) is not None:
            shown[member] = doc[member]
    return shown
