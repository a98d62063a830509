"""What Portside does with every member of a task definition: one table.

ECS documents dozens of task- and container-definition parameters.  Accepting
one and not acting on it would let a user believe a setting holds when it
does not, so each member of botocore's shapes is listed here as either
APPLIED (the agent gives it to Docker, or the server acts on it) or refused
with the reason; `problem()` finds the first refused one in a
RegisterTaskDefinition request, `run_problem()` in a definition about to run
(volume kinds, refused at RunTask/StartTask/CreateService) and
`override_problem()` in RunTask/StartTask overrides.  A test walks botocore's model and fails on any member this table
does not name, so a new AWS parameter cannot slip through unnoticed.

Some refusals are conditional (a value Portside cannot honour, e.g.
`pidMode: task`); those are checks, beside the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import health
from .documents import Doc


@dataclass(frozen=True)
class Applied:
    """Acted on as ECS documents; `how` says what it becomes (README, tests)."""

    how: str


@dataclass(frozen=True)
class Refused:
    why: str



CONTAINER: dict[str, Applied | Refused] = {
    "name": Applied("the container's name in the task"),
    "image": Applied("pulled unless present, then run"),
    "repositoryCredentials": Applied("credentialsParameter (a Secrets Manager secret holding username and "
                                     "password) resolved by the agent and given to the image pull"),
    "cpu": Applied("Docker CPU shares (minimum 2)"),
    "memory": Applied("Docker hard memory limit"),
    "memoryReservation": Applied("Docker soft memory limit (--memory-reservation)"),
    "links": Refused("Docker links are not supported yet; containers of a bridge "
                     "task reach each other through host ports"),
    "portMappings": Applied("Docker port bindings (bridge), the host's ports (host)"),
    "essential": Applied("an essential container's exit stops the task"),
    "restartPolicy": Applied("the agent restarts an exited container in place "
                             "(ignoredExitCodes, restartAttemptPeriod)"),
    "entryPoint": Applied("Docker entrypoint"),
    "command": Applied("Docker command"),
    "environment": Applied("Docker environment"),
    "environmentFiles": Refused("environment files are read from S3, which Portside does not provide"),
    "mountPoints": Applied("Docker bind mounts and volumes"),
    "volumesFrom": Applied("Docker --volumes-from"),
    "linuxParameters": Applied("see linuxParameters members"),
    "secrets": Applied("Secrets Manager (with :json-key:version-stage:version-id) and SSM parameters, "
                       "resolved by the agent at task start into environment variables"),
    "dependsOn": Applied("a container starts once its START/COMPLETE/SUCCESS/HEALTHY "
                         "conditions hold; stops in reverse order"),
    "startTimeout": Applied("how long dependents wait for this container to reach their condition"),
    "stopTimeout": Applied("seconds between SIGTERM and SIGKILL"),
    "versionConsistency": Applied("only 'disabled' is accepted: image tags are not pinned to digests"),
    "hostname": Applied("Docker --hostname"),
    "user": Applied("Docker --user"),
    "workingDirectory": Applied("Docker --workdir"),
    "disableNetworking": Applied("Docker --network-disabled"),
    "privileged": Applied("Docker --privileged"),
    "readonlyRootFilesystem": Applied("Docker --read-only"),
    "dnsServers": Applied("Docker --dns"),
    "dnsSearchDomains": Applied("Docker --dns-search"),
    "extraHosts": Applied("Docker --add-host"),
    "dockerSecurityOptions": Applied("Docker --security-opt"),
    "interactive": Applied("Docker --interactive (stdin kept open)"),
    "pseudoTerminal": Applied("Docker --tty"),
    "dockerLabels": Applied("Docker labels"),
    "ulimits": Applied("Docker --ulimit"),
    "logConfiguration": Applied("the json-file and none log drivers, and awslogs (shipped by the agent "
                                "to this server's CloudWatch Logs); others are refused"),
    "healthCheck": Applied("Docker health check; healthStatus as ECS derives it; a service replaces an UNHEALTHY task"),
    "systemControls": Applied("Docker --sysctl"),
    "resourceRequirements": Refused("GPUs and inference accelerators are not available on Portside hosts"),
    "firelensConfiguration": Refused("FireLens log routing is not supported by Portside"),
    "credentialSpecs": Refused("credential specs (Active Directory gMSA) are not supported by Portside"),
}

LINUX_PARAMETERS: dict[str, Applied | Refused] = {
    "capabilities": Applied("Docker --cap-add / --cap-drop"),
    "devices": Applied("Docker --device"),
    "initProcessEnabled": Applied("Docker --init"),
    "sharedMemorySize": Applied("Docker --shm-size (MiB)"),
    "tmpfs": Applied("Docker --tmpfs"),
    "maxSwap": Applied("Docker --memory-swap = memory + maxSwap"),
    "swappiness": Applied("Docker --memory-swappiness (only with maxSwap, as ECS documents)"),
}

TASK: dict[str, Applied | Refused] = {
    "family": Applied("the family"),
    "taskRoleArn": Applied("its keys (a role_arn section of --credentials) served to the containers at "
                           "169.254.170.2 through AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (host network mode: "
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI on 127.0.0.1)"),
    "executionRoleArn": Applied("kept; it authorizes only what the agent does for the task"),
    "networkMode": Applied("bridge, host, none and awsvpc"),
    "containerDefinitions": Applied("see the container parameters"),
    "volumes": Applied("see the volume parameters"),
    "placementConstraints": Applied("memberOf placement"),
    "requiresCompatibilities": Applied("checked at registration"),
    "cpu": Applied("reserved on the instance; a CFS quota on the task's own cgroup"),
    "memory": Applied("reserved on the instance; the hard limit of the task's own cgroup"),
    "tags": Applied("tags"),
    "pidMode": Applied("'host' (Docker --pid host); 'task' with awsvpc (the pause container's PID namespace), "
                       "refused with other network modes"),
    "ipcMode": Applied("'host' and 'none' (Docker --ipc); 'task' with awsvpc (the pause container's IPC "
                       "namespace), refused with other network modes"),
    "proxyConfiguration": Refused("App Mesh proxy configuration is not supported by Portside"),
    "inferenceAccelerators": Refused("inference accelerators are not available on Portside hosts"),
    "ephemeralStorage": Applied("kept and shown; on AWS it sizes Fargate storage only, "
                                "EC2 tasks use the instance's disk as here"),
    "runtimePlatform": Applied("operatingSystemFamily must be LINUX; cpuArchitecture places "
                               "on instances with that ecs.cpu-architecture"),
    "enableFaultInjection": Applied("only false is accepted"),
    "trustedExecutionConfiguration": Refused("trusted execution is not supported by Portside"),
}

VOLUME: dict[str, Applied | Refused] = {
    "name": Applied("the volume's name"),
    "host": Applied("a bind mount of sourcePath, or a Docker volume for the task's life"),
    "dockerVolumeConfiguration": Applied("a Docker volume (scope task/shared, autoprovision, driver)"),
    "efsVolumeConfiguration": Refused("EFS volumes are not available on Portside hosts"),
    "s3filesVolumeConfiguration": Refused("S3 Files volumes are not available on Portside hosts"),
    "fsxWindowsFileServerVolumeConfiguration": Refused("FSx for Windows volumes are not supported by Portside"),
    "configuredAtLaunch": Refused("volumes configured at launch (EBS) are not supported by Portside"),
}

CONTAINER_OVERRIDE: dict[str, Applied | Refused] = {
    "name": Applied("the container overridden"),
    "command": Applied("replaces the command"),
    "environment": Applied("added to the environment"),
    "environmentFiles": Refused("environment files are read from S3, which Portside does not provide"),
    "cpu": Applied("replaces cpu"),
    "memory": Applied("replaces memory"),
    "memoryReservation": Applied("replaces memoryReservation"),
    "resourceRequirements": Refused("GPUs and inference accelerators are not available on Portside hosts"),
}

TASK_OVERRIDE: dict[str, Applied | Refused] = {
    "containerOverrides": Applied("see the container overrides"),
    "cpu": Applied("replaces the task's cpu"),
    "memory": Applied("replaces the task's memory"),
    "inferenceAcceleratorOverrides": Refused("inference accelerators are not available on Portside hosts"),
    "executionRoleArn": Applied("replaces the execution role"),
    "taskRoleArn": Applied("replaces the task role"),
    "ephemeralStorage": Applied("kept and shown (Fargate storage on AWS)"),
}

LOG_DRIVERS = ("json-file", "none", "awslogs")
AWSVPC_REFUSED = ("hostname", "dnsServers", "dnsSearchDomains", "extraHosts", "links", "disableNetworking")


def _refusal(member: str, where: str, why: str) -> str:
    return f"'{member}'{where} is not supported by Portside: {why}."


def _table_problem(doc: Doc, table: dict[str, Applied | Refused], where: str) -> str | None:
    for member, value in doc.items():
        rule = table.get(member)
        if isinstance(rule, Refused) and value not in (None, [], {}, False):
            return _refusal(member, where, rule.why)
    return None


def problem(params: Doc) -> str | None:
    """Why a RegisterTaskDefinition request cannot be run as given (None: it can)."""
    found = _table_problem(params, TASK, "")
    if found:
        return found
    for key in ("pidMode", "ipcMode"):
        if params.get(key) == "task" and params.get("networkMode") != "awsvpc":
            return _refusal(key, "", "containers of a task share a namespace here only in networkMode "
                            "'awsvpc', through the task's pause container; use 'host'"
                            + (" or 'none'" if key == "ipcMode" else "") + " or leave it unset")
    if params.get("enableFaultInjection"):
        return _refusal("enableFaultInjection", "", "fault injection is not available")
    platform = params.get("runtimePlatform") or {}
    family = platform.get("operatingSystemFamily")
    if family and family != "LINUX":
        return _refusal("runtimePlatform.operatingSystemFamily", "", f"{family} hosts are not available; "
                        "Portside hosts run Linux")
    found = _ordering_problem(params.get("containerDefinitions") or [])
    if found:
        return found
    for c in params.get("containerDefinitions") or []:
        found = _container_problem(c)
        if found:
            return found
        if params.get("networkMode") == "awsvpc":
            for member in AWSVPC_REFUSED:
                if c.get(member):
                    return (f"'{member}' (container '{c.get('name')}') is not supported when "
                            "networkMode=awsvpc, as in ECS: the task's network namespace is shared.")
    return None


def _ordering_problem(containers: list[Doc]) -> str | None:
    """dependsOn that could never resolve: a HEALTHY condition on a container
    without a health check, or a cycle."""
    by_name: dict[str, Doc] = {str(c.get("name")): c for c in containers}
    for c in containers:
        for d in c.get("dependsOn") or []:
            dep = by_name.get(d.get("containerName"))
            if dep is not None and d.get("condition") == "HEALTHY" and not dep.get("healthCheck"):
                return (f"Invalid 'dependsOn' setting for container '{c.get('name')}'. The HEALTHY "
                        f"condition needs a healthCheck on container '{dep.get('name')}'.")
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def cycle(name: str) -> bool:
        if state.get(name) == 1:
            return True
        if state.get(name) == 2 or name not in by_name:
            return False
        state[name] = 1
        found = any(cycle(str(d.get("containerName"))) for d in by_name[name].get("dependsOn") or [])
        state[name] = 2
        return found

    for name in by_name:
        if cycle(name):
            return f"Invalid 'dependsOn' setting: the containers' dependencies form a cycle (through '{name}')."
    return None


def _container_problem(c: Doc) -> str | None:
    where = f" (container '{c.get('name')}')"
    found = _table_problem(c, CONTAINER, where)
    if found:
        return found
    policy = c.get("restartPolicy") or {}
    period = policy.get("restartAttemptPeriod")
    if period is not None and not 60 <= period <= 1800:
        return (f"Invalid 'restartPolicy' setting for container '{c.get('name')}'. "
                "restartAttemptPeriod must be between 60 and 1800.")
    if len(policy.get("ignoredExitCodes") or []) > 50:
        return (f"Invalid 'restartPolicy' setting for container '{c.get('name')}'. "
                "ignoredExitCodes can have at most 50 exit codes.")
    found = health.problem(c)
    if found:
        return found
    if c.get("versionConsistency") == "enabled":
        return _refusal("versionConsistency", where, "image tags are not resolved to digests here; "
                        "set it to 'disabled'")
    log = c.get("logConfiguration")
    if log:
        if log.get("logDriver") not in LOG_DRIVERS:
            return _refusal(f"logConfiguration.logDriver {log.get('logDriver')}", where,
                            "the log drivers here are " + ", ".join(LOG_DRIVERS))
        if log.get("secretOptions"):
            return _refusal("logConfiguration.secretOptions", where,
                            "log drivers' secret options are not supported by Portside")
    if (c.get("linuxParameters") or {}).get("maxSwap") is not None and c.get("memory") is None:
        return _refusal("linuxParameters.maxSwap", where, "Docker limits swap only beside a hard "
                        "memory limit; set the container's 'memory'")
    for mapping in c.get("portMappings") or []:
        if mapping.get("containerPortRange"):
            return _refusal("portMappings.containerPortRange", where, "port ranges are not supported; "
                            "map each port with containerPort")
    return None


def run_problem(definition: Doc) -> str | None:
    """Why a registered definition cannot run here.  Volumes of kinds Portside
    cannot mount are accepted at registration, as AWS accepts them whatever
    the launch type (definitions copied from AWS register), and refused when
    a task would need them."""
    for volume in definition.get("volumes") or []:
        found = _table_problem(volume, VOLUME, f" (volume '{volume.get('name')}')")
        if found:
            return found
    return None


def override_problem(overrides: Doc | None) -> str | None:
    """Why RunTask/StartTask `overrides` cannot be applied as given."""
    if not overrides:
        return None
    found = _table_problem(overrides, TASK_OVERRIDE, " (overrides)")
    if found:
        return found
    for o in overrides.get("containerOverrides") or []:
        found = _table_problem(o, CONTAINER_OVERRIDE, f" (override of container '{o.get('name')}')")
        if found:
            return found
    return None


def platform_constraints(definition: Doc | None) -> list[Doc]:
    """`runtimePlatform.cpuArchitecture` as the memberOf constraint ECS applies
    on EC2: only instances of that architecture run the task."""
    arch = ((definition or {}).get("runtimePlatform") or {}).get("cpuArchitecture")
    if not arch:
        return []
    return [{"type": "memberOf", "expression": f"attribute:ecs.cpu-architecture == {arch.lower()}"}]
