"""What ECS checks for the Fargate launch type and awsvpc networking: the task
sizes Fargate offers, the task-definition rules a FARGATE definition must
follow, the launch type a definition fits, platform versions, and the
`networkConfiguration` a RunTask or service gives.

Pure functions; each refusal carries AWS's wording (from the ECS API reference
and what AWS answers), and the API layer picks the error code: task-definition
content is a ClientException, request members an InvalidParameterException.
"""

from __future__ import annotations

from .documents import Doc

_GB = 1024
# Fargate's task sizes (ECS developer guide, "Task CPU and memory"): CPU units -> memory (MiB).
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1 * _GB, 2 * _GB}),
    512: frozenset(g * _GB for g in range(1, 5)),
    1024: frozenset(g * _GB for g in range(2, 9)),
    2048: frozenset(g * _GB for g in range(4, 17)),
    4096: frozenset(g * _GB for g in range(8, 31)),
    8192: frozenset(g * _GB for g in range(16, 61, 4)),
    16384: frozenset(g * _GB for g in range(32, 121, 8)),
}

LATEST_PLATFORM_VERSION = "1.4.0"
PLATFORM_VERSIONS = ("1.4.0", "1.3.0")  # Linux platform versions AWS still accepts
EPHEMERAL_STORAGE_GIB = (21, 200)
DEFAULT_EPHEMERAL_STORAGE_GIB = 20
MAX_SUBNETS, MAX_SECURITY_GROUPS = 16, 5
LAUNCH_TYPES_RUN_HERE = ("EC2", "FARGATE")
# Hosts whose agent offers Fargate capacity carry this attribute; `portside
# agent --fargate` hosts register in this cluster, which users never see.
FARGATE_ATTRIBUTE = "portside.fargate-capacity"
FARGATE_CLUSTER = "portside-fargate"


class FargateProblem(ValueError):
    """A request or definition ECS would refuse; `message` is AWS's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def definition_problem(doc: Doc, cpu: int | None, memory: int | None) -> str | None:
    """Why a definition that requires FARGATE cannot be registered (None: it can).
    `cpu` and `memory` are the task-level sizes already parsed."""
    if doc.get("networkMode") != "awsvpc":
        return "Fargate only supports network mode \u2018awsvpc\u2019."
    if cpu is None:
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory is None:
        return "Fargate requires that 'memory' be defined at the task level."
    if memory not in FARGATE_SIZES.get(cpu, frozenset()):
        return (f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
                "See the Amazon ECS documentation for the valid values.")
    return _launch_rule_problem(doc)


def _launch_rule_problem(doc: Doc) -> str | None:
    """The rules beyond size and network mode that Fargate imposes."""
    if doc.get("pidMode") == "host":
        return ("Tasks using the Fargate launch type do not support pidMode 'host'. "
                "The supported value for pidMode is 'task'.")
    if doc.get("ipcMode"):
        return "Tasks using the Fargate launch type do not support ipcMode."
    for c in doc.get("containerDefinitions", []):
        log = c.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs" and not doc.get("executionRoleArn"):
            return "Fargate requires task definition to have execution role ARN to support log driver awslogs."
    return None


def fits_fargate(doc: Doc, cpu: int | None, memory: int | None) -> bool:
    return definition_problem(doc, cpu, memory) is None


def ephemeral_storage_problem(storage: Doc | None) -> str | None:
    if storage is None:
        return None
    low, high = EPHEMERAL_STORAGE_GIB
    size = storage.get("sizeInGiB")
    if not isinstance(size, int) or not low <= size <= high:
        return (f"Invalid 'ephemeralStorage' setting for task. The ephemeral storage size must be "
                f"between {low} and {high} GiB.")
    return None


def launch_type_problem(definition: Doc, launch_type: str) -> str | None:
    """Why tasks of `definition` cannot run with `launch_type` (None: they can)."""
    if launch_type not in LAUNCH_TYPES_RUN_HERE:
        return f"Launch type {launch_type} is not supported by Portside; it runs EC2 and FARGATE."
    if launch_type not in definition.get("compatibilities", ["EC2"]):
        return f"Task definition does not support launch_type {launch_type}."
    return None


def platform_version(launch_type: str, given: str | None) -> str | None:
    """The platform version a task runs on: none for EC2 (refused when given),
    LATEST → 1.4.0 for Fargate.  An unknown version raises FargateProblem with
    `unknown` set, for PlatformUnknownException."""
    if launch_type != "FARGATE":
        if given:
            raise FargateProblem("The platform version must be null when specifying an EC2 launch type.")
        return None
    if not given or given == "LATEST":
        return LATEST_PLATFORM_VERSION
    if given not in PLATFORM_VERSIONS:
        raise UnknownPlatform(f"The specified platform version {given[:32]} does not exist.")
    return given


class UnknownPlatform(FargateProblem):
    """An unknown platform version (PlatformUnknownException)."""


def platform_family(definition: Doc) -> str:
    """The platform family a Fargate task reports ("Linux" unless the
    definition's runtimePlatform says otherwise)."""
    family = (definition.get("runtimePlatform") or {}).get("operatingSystemFamily") or "LINUX"
    return "Linux" if family == "LINUX" else family


def runtime_platform_problem(definition: Doc) -> str | None:
    """Windows task definitions register (they are valid ECS), but nothing here runs them."""
    family = (definition.get("runtimePlatform") or {}).get("operatingSystemFamily")
    if family and family != "LINUX":
        return f"Portside runs Linux containers only; operatingSystemFamily {family} is not supported."
    return None


def network_configuration(network_mode: str | None, launch_type: str, given: Doc | None) -> Doc | None:
    """The checked `awsvpcConfiguration` of a request (defaults filled), or
    None for a task that is not awsvpc; FargateProblem as AWS refuses."""
    config = (given or {}).get("awsvpcConfiguration")
    if network_mode != "awsvpc":
        if given:
            raise FargateProblem(
                "Network Configuration is not valid for the given `networkMode` of this task definition."
            )
        return None
    if not config:
        raise FargateProblem("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    subnets = list(config.get("subnets") or [])
    groups = list(config.get("securityGroups") or [])
    if not subnets:
        raise FargateProblem("subnets can not be empty.")
    if len(subnets) > MAX_SUBNETS:
        raise FargateProblem(f"subnets can have at most {MAX_SUBNETS} items.")
    if len(groups) > MAX_SECURITY_GROUPS:
        raise FargateProblem(f"securityGroups can have at most {MAX_SECURITY_GROUPS} items.")
    for name in subnets:
        if not _network_name_ok(name):
            raise FargateProblem(f"The subnet ID '{name[:64]}' is not valid.")
    public = config.get("assignPublicIp") or "DISABLED"
    if public == "ENABLED" and launch_type != "FARGATE":
        raise FargateProblem("Assign public IP is not supported for this launch type.")
    return {"subnets": subnets, "securityGroups": groups, "assignPublicIp": public}


def _network_name_ok(name: str) -> bool:
    """A subnet names the Docker network Portside makes for it: 1-64 of
    [A-Za-z0-9_.-], as Docker allows in network names."""
    return 0 < len(name) <= 64 and all(ch.isalnum() or ch in "-_." for ch in name) and name[0].isalnum()
