"""Task definitions: the content rules ECS enforces at registration, the
defaults it fills in, and the task-size arithmetic (CPU units, MiB).

Pure functions over ECS-shaped dicts; no I/O.  A broken definition raises
`InvalidTaskDefinition` carrying the message AWS answers with, and the API
layer turns it into a `ClientException` (the code ECS uses for task-definition
content errors).
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation

from . import container_support, fargate
from .documents import Doc

MIN_CONTAINER_MEMORY_MIB = 6  # Docker 20.10+ reserves 6 MiB per container
MIN_TASK_CPU_UNITS, MAX_TASK_CPU_UNITS = 128, 196_608  # 0.125 .. 192 vCPU
CPU_UNITS_PER_VCPU = 1024
MIB_PER_GB = 1024
COMPATIBILITIES = ["EXTERNAL", "EC2"]
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
PORT_NETWORK_MODES = ("host", "awsvpc")  # the host port *is* the container port

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$")
_UNITS = {"cpu": {"": 1, "vcpu": CPU_UNITS_PER_VCPU}, "memory": {"": 1, "gb": MIB_PER_GB}}

# The containerDefinitions members ECS answers with even when not given.
_CONTAINER_LIST_DEFAULTS = ("portMappings", "environment", "mountPoints", "volumesFrom",
                            "systemControls")
_HEALTH_CHECK_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3}
_DOCKER_API = "com.amazonaws.ecs.capability.docker-remote-api."


class InvalidTaskDefinition(ValueError):
    """A task definition ECS would refuse; `message` is AWS's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_task_size(value: str | int | None, kind: str) -> int | None:
    """Task-level `cpu` (→ CPU units) or `memory` (→ MiB) as an integer.

    ECS accepts "1024" or "1 vCPU"/"0.25 vcpu" for cpu, "512" or "2GB"/"0.5 GB"
    for memory, and stores the integer; None stays None (not set).
    """
    if value is None:
        return None
    units = _UNITS[kind]
    match = _SIZE.match(str(value))
    scale = units.get(match.group(2).lower()) if match else None
    if match is None or scale is None:
        raise InvalidTaskDefinition(f"Invalid '{kind}' setting for task.")
    try:
        amount = Decimal(match.group(1)) * scale
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise InvalidTaskDefinition(f"Invalid '{kind}' setting for task.") from exc
    if amount != amount.to_integral_value() or amount <= 0:
        raise InvalidTaskDefinition(f"Invalid '{kind}' setting for task.")
    result = int(amount)
    if kind == "cpu" and not MIN_TASK_CPU_UNITS <= result <= MAX_TASK_CPU_UNITS:
        raise InvalidTaskDefinition("Invalid 'cpu' setting for task.")
    if kind == "memory" and result < MIN_CONTAINER_MEMORY_MIB:
        raise InvalidTaskDefinition("Invalid 'memory' setting for task.")
    return result


def build(
    params: Doc, *, arn: str, revision: int, registered_at: float, registered_by: str
) -> Doc:
    """The TaskDefinition document ECS stores for a RegisterTaskDefinition request:
    validated, sizes normalised, defaults filled."""
    network_mode = params.get("networkMode")
    cpu = parse_task_size(params.get("cpu"), "cpu")
    memory = parse_task_size(params.get("memory"), "memory")
    requires = list(params.get("requiresCompatibilities") or [])
    if "FARGATE" in requires:
        problem = fargate.definition_problem(params, cpu, memory)
        if problem:
            raise InvalidTaskDefinition(problem)
    storage_problem = fargate.ephemeral_storage_problem(params.get("ephemeralStorage"))
    if storage_problem:
        raise InvalidTaskDefinition(storage_problem)
    # what AWS refuses first, then what Portside cannot do
    refused = container_support.problem(params)
    if refused:
        raise InvalidTaskDefinition(refused)
    volumes = copy.deepcopy(params.get("volumes") or [])
    for volume in volumes:
        efs = volume.get("efsVolumeConfiguration")
        if efs is not None:
            efs.setdefault("rootDirectory", "/")  # as ECS answers when omitted
    volume_names = _volume_names(volumes)
    containers = [_container(c, network_mode) for c in params["containerDefinitions"]]
    _check_containers(containers, network_mode, memory, volume_names)
    doc: Doc = {
        "taskDefinitionArn": arn,
        "containerDefinitions": containers,
        "family": params["family"],
        "revision": revision,
        "volumes": volumes,
        "status": "ACTIVE",
        "placementConstraints": copy.deepcopy(params.get("placementConstraints") or []),
        "compatibilities": _compatibilities(params, cpu, memory),
        "registeredAt": registered_at,
        "registeredBy": registered_by,
    }
    for member in ("taskRoleArn", "executionRoleArn", "networkMode", "pidMode", "ipcMode",
                   "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage",
                   "runtimePlatform", "enableFaultInjection"):
        if params.get(member) is not None:
            doc[member] = copy.deepcopy(params[member])
    if requires:
        doc["requiresCompatibilities"] = requires
    if cpu is not None:
        doc["cpu"] = str(cpu)
    if memory is not None:
        doc["memory"] = str(memory)
    doc["requiresAttributes"] = requires_attributes(doc)
    return doc


def _compatibilities(params: Doc, cpu: int | None, memory: int | None) -> list[str]:
    """EC2 and EXTERNAL always; FARGATE too when the definition would run there."""
    return COMPATIBILITIES + (["FARGATE"] if fargate.fits_fargate(params, cpu, memory) else [])


def _volume_names(volumes: list[Doc]) -> set[str]:
    names: set[str] = set()
    for volume in volumes:
        name = volume.get("name")
        if not name or not CONTAINER_NAME.match(name):
            raise InvalidTaskDefinition(
                "Volume name should be 1-255 letters (uppercase and lowercase), numbers, "
                "underscores and hyphens."
            )
        if name in names:
            raise InvalidTaskDefinition(f"Duplicate volume name: '{name}'.")
        names.add(name)
    return names


def _container(given: Doc, network_mode: str | None) -> Doc:
    """One container definition with ECS's defaults filled in."""
    container = copy.deepcopy(given)
    name = container.get("name")
    if not name:
        raise InvalidTaskDefinition("Container.name should not be null or empty.")
    if not CONTAINER_NAME.match(name):
        raise InvalidTaskDefinition(
            f"Invalid container name '{name}'. Up to 255 letters (uppercase and lowercase), "
            "numbers, underscores and hyphens are allowed."
        )
    if not container.get("image"):
        raise InvalidTaskDefinition("Container.image should not be null or empty.")
    container.setdefault("cpu", 0)
    container.setdefault("essential", True)
    for member in _CONTAINER_LIST_DEFAULTS:
        container.setdefault(member, [])
    container["portMappings"] = [_port_mapping(name, m, network_mode)
                                 for m in container["portMappings"]]
    if "healthCheck" in container:
        container["healthCheck"] = {**_HEALTH_CHECK_DEFAULTS, **container["healthCheck"]}
    return container


def _port_mapping(container: str, given: Doc, network_mode: str | None) -> Doc:
    mapping = dict(given)
    mapping.setdefault("protocol", "tcp")
    container_port, host_port = mapping.get("containerPort"), mapping.get("hostPort")
    if container_port is None and mapping.get("containerPortRange") is None:
        raise InvalidTaskDefinition(
            f"Invalid 'portMappings' setting for container '{container}'. "
            "containerPort or containerPortRange must be specified."
        )
    if container_port is not None and not 1 <= container_port <= 65535:
        raise InvalidTaskDefinition(
            f"Invalid 'containerPort' setting for container '{container}'. "
            "Ports must be between 1 and 65535."
        )
    if host_port is not None and not 0 <= host_port <= 65535:
        raise InvalidTaskDefinition(
            f"Invalid 'hostPort' setting for container '{container}'. "
            "Ports must be between 0 and 65535."
        )
    if network_mode in PORT_NETWORK_MODES and container_port is not None:
        if host_port is None:
            mapping["hostPort"] = container_port
        elif host_port != container_port:
            raise InvalidTaskDefinition(
                f"When networkMode={network_mode}, the host ports and container ports "
                "in port mappings must match."
            )
    return mapping


def _check_containers(
    containers: list[Doc], network_mode: str | None, task_memory: int | None, volumes: set[str]
) -> None:
    """The rules that look at one container against the task or at all of them."""
    names = [c["name"] for c in containers]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidTaskDefinition(f"Duplicate container name '{name}' in task definition.")
        seen.add(name)
    if not any(c["essential"] for c in containers):
        raise InvalidTaskDefinition(
            "Invalid task definition: at least one container must be essential."
        )
    host_ports: dict[tuple[int, str], str] = {}
    for c in containers:
        _check_memory(c, task_memory)
        if c["cpu"] < 0:
            raise InvalidTaskDefinition(
                f"Invalid 'cpu' setting for container '{c['name']}'. cpu must not be negative."
            )
        if network_mode == "none" and c["portMappings"]:
            raise InvalidTaskDefinition(
                "Port mappings are not supported when networkMode=none."
            )
        for mapping in c["portMappings"]:
            port = mapping.get("hostPort")
            if not port:
                continue  # 0 / absent in bridge mode: Docker picks an ephemeral port
            key = (port, mapping["protocol"])
            if key in host_ports:
                raise InvalidTaskDefinition(
                    f"Invalid 'portMappings' setting for container '{c['name']}'. "
                    f"Host port {port}/{mapping['protocol']} is already used by container "
                    f"'{host_ports[key]}' in this task definition."
                )
            host_ports[key] = c["name"]
        for mount in c["mountPoints"]:
            if mount.get("sourceVolume") not in volumes:
                raise InvalidTaskDefinition(
                    f"Invalid 'mountPoints' setting for container '{c['name']}'. "
                    f"Unknown volume '{mount.get('sourceVolume')}'."
                )
        for source in c["volumesFrom"]:
            if source.get("sourceContainer") not in seen:
                raise InvalidTaskDefinition(
                    f"Invalid 'volumesFrom' setting for container '{c['name']}'. "
                    f"Unknown container '{source.get('sourceContainer')}'."
                )
        for dependency in c.get("dependsOn") or []:
            if dependency.get("containerName") not in seen:
                raise InvalidTaskDefinition(
                    f"Invalid 'dependsOn' setting for container '{c['name']}'. "
                    f"Unknown container '{dependency.get('containerName')}'."
                )


def _check_memory(c: Doc, task_memory: int | None) -> None:
    name, memory, reservation = c["name"], c.get("memory"), c.get("memoryReservation")
    if memory is None and reservation is None and task_memory is None:
        raise InvalidTaskDefinition(
            f"Invalid setting for container '{name}'. "
            "At least one of 'memory' or 'memoryReservation' must be specified."
        )
    for member, value in (("memory", memory), ("memoryReservation", reservation)):
        if value is not None and value < MIN_CONTAINER_MEMORY_MIB:
            raise InvalidTaskDefinition(
                f"Invalid '{member}' setting for container '{name}'. "
                f"The minimum is {MIN_CONTAINER_MEMORY_MIB} MiB."
            )
    if memory is not None and reservation is not None and reservation > memory:
        raise InvalidTaskDefinition(
            f"Invalid 'memoryReservation' setting for container '{name}'. "
            "memoryReservation must be less than or equal to memory."
        )
    if task_memory is not None and memory is not None and memory > task_memory:
        raise InvalidTaskDefinition(
            f"The 'memory' setting for container '{name}' is greater than for the task."
        )


def requires_attributes(doc: Doc) -> list[dict[str, str]]:
    """The container-instance attributes a definition needs, in ECS's naming:
    Docker Remote API versions and agent capabilities its features use."""
    needed: list[str] = []

    def need(*names: str) -> None:
        needed.extend(n for n in names if n not in needed)

    if doc.get("networkMode"):
        need(_DOCKER_API + "1.18")
    if doc.get("networkMode") == "awsvpc":
        need("ecs.capability.task-eni")
    if doc.get("taskRoleArn"):
        need("com.amazonaws.ecs.capability.task-iam-role")
    execution_role = bool(doc.get("executionRoleArn"))
    for c in doc["containerDefinitions"]:
        if ".dkr.ecr." in (c.get("image") or ""):
            need("com.amazonaws.ecs.capability.ecr-auth")
            if execution_role:
                need("ecs.capability.execution-role-ecr-pull")
        if c.get("memoryReservation") is not None:
            need(_DOCKER_API + "1.21")
        if c.get("dockerLabels") or c.get("ulimits"):
            need(_DOCKER_API + "1.18")
        log = c.get("logConfiguration")
        if log:
            need(_DOCKER_API + "1.18", f"com.amazonaws.ecs.capability.logging-driver.{log['logDriver']}")
            if log["logDriver"] == "awslogs":
                need(_DOCKER_API + "1.19")
                if execution_role:
                    need("ecs.capability.execution-role-awslogs")
        if c.get("privileged"):
            need("com.amazonaws.ecs.capability.privileged-container")
        if c.get("healthCheck"):
            need("ecs.capability.container-health-check", _DOCKER_API + "1.24")
        if c.get("dependsOn"):
            need("ecs.capability.container-ordering")
        if (c.get("linuxParameters") or {}).get("initProcessEnabled"):
            need(_DOCKER_API + "1.25")
        if c.get("environmentFiles"):
            need("ecs.capability.env-files.s3")
        for secret in c.get("secrets") or []:
            if ":secretsmanager:" in secret.get("valueFrom", ""):
                need("ecs.capability.secrets.asm.environment-variables")
            else:
                need("ecs.capability.secrets.ssm.environment-variables")
    for volume in doc.get("volumes", []):
        if volume.get("efsVolumeConfiguration"):
            need("ecs.capability.efs")
    return [{"name": n} for n in needed]
