"""Tasks: how one is made from a task definition and overrides, and how agent
reports move it forward.

Pure functions over ECS-shaped dicts.  What a task reserves on its instance is
kept beside it by the store, not in the document.
"""

from __future__ import annotations

from ..arns import Arns, new_id
from . import awsvpc, container_support
from .documents import Doc
from .resources import Reservation
from .status import Status, advance, task_status_from_containers
from .task_definition import parse_task_size

USER_STOP_REASON = "Task stopped by user"
ESSENTIAL_EXITED = "Essential container in task exited"
FAILED_TO_START = "Task failed to start"


def container_overrides(overrides: Doc | None) -> dict[str, Doc]:
    return {o["name"]: o for o in (overrides or {}).get("containerOverrides", []) if "name" in o}


def effective_containers(task_definition: Doc, overrides: Doc | None) -> list[Doc]:
    """The container definitions as ECS runs them: overrides applied.  Copies
    are shallow: overridden members are replaced, never changed in place, and
    callers only read what they get."""
    by_name = container_overrides(overrides)
    result = []
    for definition in task_definition["containerDefinitions"]:
        container = dict(definition)
        override = by_name.get(container["name"], {})
        for member in ("command", "cpu", "memory", "memoryReservation"):
            if member in override:
                container[member] = override[member]
        if "environment" in override:
            env = {e["name"]: e.get("value", "") for e in container.get("environment", [])}
            env.update({e["name"]: e.get("value", "") for e in override["environment"]})
            container["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        result.append(container)
    return result


def override_problem(overrides: Doc | None) -> str | None:
    """Why container overrides cannot be applied (sizes no container may have,
    members Portside does not act on)."""
    refused = container_support.override_problem(overrides)
    if refused:
        return refused
    for o in (overrides or {}).get("containerOverrides", []):
        name = o.get("name", "")
        if o.get("cpu") is not None and o["cpu"] < 0:
            return f"Invalid 'cpu' override for container '{name}'. It must be 0 or more."
        for member in ("memory", "memoryReservation"):
            if o.get(member) is not None and o[member] < 6:
                return f"Invalid '{member}' override for container '{name}'. The minimum is 6 MiB."
    return None


def unknown_override_names(task_definition: Doc, overrides: Doc | None) -> list[str]:
    names = {c["name"] for c in task_definition["containerDefinitions"]}
    return [n for n in container_overrides(overrides) if n not in names]


def reservation_for(task_definition: Doc, overrides: Doc | None) -> Reservation:
    """CPU units, MiB and static host ports a task needs on its instance."""
    overrides = overrides or {}
    containers = effective_containers(task_definition, overrides)
    cpu = parse_task_size(overrides.get("cpu") or task_definition.get("cpu"), "cpu")
    memory = parse_task_size(overrides.get("memory") or task_definition.get("memory"), "memory")
    if cpu is None:
        cpu = sum(int(c.get("cpu") or 0) for c in containers)
    if memory is None:
        memory = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
    mode = task_definition.get("networkMode", "bridge")
    tcp: list[int] = []
    udp: list[int] = []
    if mode in ("bridge", "host"):
        for c in containers:
            for mapping in c.get("portMappings", []):
                port = mapping.get("hostPort") or (
                    mapping.get("containerPort") if mode == "host" else None
                )
                if port:
                    (udp if mapping.get("protocol") == "udp" else tcp).append(int(port))
    return Reservation(cpu, memory, tcp, udp)


def new_task(
    arns: Arns,
    cluster: Doc,
    task_definition: Doc,
    instance: Doc,
    params: Doc,
    now: float,
    fields: Doc | None = None,
    network: Doc | None = None,
) -> Doc:
    """A task just placed on `instance`: PENDING, desired RUNNING, createdAt
    now; `fields` are its launch's members (launchType, platformVersion, ...),
    `network` its checked awsvpcConfiguration (an ENI attachment is made)."""
    cluster_name = cluster["clusterName"]
    task_id = new_id()
    task_arn = arns.task(cluster_name, task_id)
    overrides = params.get("overrides") or {}
    containers = []
    for c in effective_containers(task_definition, overrides):
        container: Doc = {
            "containerArn": arns.container(cluster_name, task_id, new_id()),
            "taskArn": task_arn,
            "name": c["name"],
            "image": c.get("image"),
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [],
            "healthStatus": "UNKNOWN",
            "cpu": str(c.get("cpu") or 0),
        }
        if c.get("memory") is not None:
            container["memory"] = str(c["memory"])
        if c.get("memoryReservation") is not None:
            container["memoryReservation"] = str(c["memoryReservation"])
        containers.append(container)
    attributes = {a["name"]: a.get("value") for a in instance.get("attributes", [])}
    task: Doc = {
        "taskArn": task_arn,
        "clusterArn": cluster["clusterArn"],
        "taskDefinitionArn": task_definition["taskDefinitionArn"],
        "containerInstanceArn": instance["containerInstanceArn"],
        "overrides": {
            "containerOverrides": overrides.get("containerOverrides", []),
            "inferenceAcceleratorOverrides": overrides.get("inferenceAcceleratorOverrides", []),
            **{k: v for k, v in overrides.items() if k not in ("containerOverrides", "inferenceAcceleratorOverrides")},
        },
        "lastStatus": "PENDING",
        "desiredStatus": "RUNNING",
        "containers": containers,
        "createdAt": now,
        "group": params.get("group") or f"family:{task_definition['family']}",
        "launchType": "EC2",
        "version": 1,
        "attachments": [],
        "attributes": [],
        "enableExecuteCommand": bool(params.get("enableExecuteCommand", False)),
        "healthStatus": "UNKNOWN",
    }
    if attributes.get("ecs.availability-zone"):
        task["availabilityZone"] = attributes["ecs.availability-zone"]
    for member, value in (("cpu", overrides.get("cpu") or task_definition.get("cpu")),
                          ("memory", overrides.get("memory") or task_definition.get("memory"))):
        if value is not None:
            task[member] = str(value)
    if params.get("startedBy"):
        task["startedBy"] = params["startedBy"]
    if fields:
        task.update(fields)
    if network:
        task["attachments"] = [awsvpc.new_attachment(network)]
    return task


def request_stop(task: Doc, reason: str | None, now: float) -> bool:
    """StopTask: desired STOPPED with the user's reason. True when it changed."""
    if task["desiredStatus"] == "STOPPED":
        return False
    task["desiredStatus"] = "STOPPED"
    task["stoppedReason"] = reason or USER_STOP_REASON
    task["stopCode"] = "UserInitiated"
    task["stoppingAt"] = now  # the stop begins now; the agent reports when it is done
    task["version"] += 1
    return True


def apply_container_change(task: Doc, change: Doc) -> bool:
    """One container's report (status forward only). False when the name is unknown."""
    for container in task["containers"]:
        if container["name"] == change.get("containerName"):
            break
    else:
        return False
    if change.get("status"):
        container["lastStatus"] = advance(container["lastStatus"], change["status"])
    for member in ("runtimeId", "imageDigest", "networkBindings", "exitCode"):
        if change.get(member) is not None:
            container[member] = change[member]
    if change.get("reason"):
        container["reason"] = change["reason"][:255]
    return True


def apply_task_change(task: Doc, report: Doc, now: float) -> bool:
    """Move the task forward after its containers changed and/or the agent
    reported a task status; stamps each transition once.  True when the task
    has just reached STOPPED (its resources go back to its instance)."""
    before = task["lastStatus"]
    status = advance(before, task_status_from_containers([c["lastStatus"] for c in task["containers"]]))
    if report.get("status"):
        status = advance(status, report["status"])
    for stamp in ("pullStartedAt", "pullStoppedAt"):
        if report.get(stamp) and stamp not in task:
            task[stamp] = report[stamp]
    if status == before:
        return False
    task["lastStatus"] = status
    task["version"] += 1
    level = Status.of(status)
    if level == Status.RUNNING and "startedAt" not in task:
        task["startedAt"] = now
        task.setdefault("connectivityAt", now)
    if level >= Status.DEACTIVATING and "stoppingAt" not in task:
        task["stoppingAt"] = now
    if level < Status.STOPPED:
        return False
    task["executionStoppedAt"] = min(report.get("executionStoppedAt") or now, now)
    task.setdefault("stoppingAt", task["executionStoppedAt"])
    task["stoppedAt"] = now
    for container in task["containers"]:  # a stopped task has no live containers
        container["lastStatus"] = "STOPPED"
    awsvpc.detach(task)  # its network namespace is gone with it
    if task["desiredStatus"] != "STOPPED":  # it stopped by itself
        task["desiredStatus"] = "STOPPED"
        started = "startedAt" in task
        task["stopCode"] = "EssentialContainerExited" if started else "TaskFailedToStart"
        task["stoppedReason"] = report.get("reason") or (ESSENTIAL_EXITED if started else FAILED_TO_START)
    return True
