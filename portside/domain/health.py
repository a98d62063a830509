"""Container health checks as ECS defines them: the task definition's bounds
and defaults, Docker's health states in ECS's words, and the task's health
derived from its containers'.

Pure functions; the agent watches Docker, the server keeps what it reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from .documents import Doc

HEALTHY, UNHEALTHY, UNKNOWN = "HEALTHY", "UNHEALTHY", "UNKNOWN"
HEALTH_CHECK_FAILED = "Task failed container health checks"

# member: (low, high) in seconds or counts, as the HealthCheck reference documents them
BOUNDS = {"interval": (5, 300), "timeout": (2, 60), "retries": (1, 10), "startPeriod": (0, 300)}
DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3}

_DOCKER = {"healthy": HEALTHY, "unhealthy": UNHEALTHY}


def has_check(definition: Doc | None) -> bool:
    """Whether a task definition gives any container a health check (its
    tasks then count as healthy only once their healthStatus is HEALTHY)."""
    return any(c.get("healthCheck") for c in (definition or {}).get("containerDefinitions", []))


def problem(container: Doc) -> str | None:
    """Why a container's healthCheck is invalid (None: it is fine)."""
    check = container.get("healthCheck")
    if not check:
        return None
    name = container.get("name")
    command = check.get("command") or []
    if not command or command[0] not in ("CMD", "CMD-SHELL") or len(command) < 2:
        return (f"Invalid 'healthCheck' setting for container '{name}'. The command must start "
                "with CMD or CMD-SHELL, followed by the command to run.")
    for member, (low, high) in BOUNDS.items():
        value = check.get(member)
        if value is not None and not low <= value <= high:
            return (f"Invalid 'healthCheck' setting for container '{name}'. "
                    f"{member} must be between {low} and {high}.")
    return None


def from_docker(status: str | None) -> str:
    """Docker's `starting` / `healthy` / `unhealthy` (None: no check) in ECS's words."""
    return _DOCKER.get(status or "", UNKNOWN)


def task_health(containers: Iterable[tuple[bool, bool, str]]) -> str:
    """The task's healthStatus from (essential, has a health check, healthStatus)
    of its containers: the essential containers with a check decide; only when
    none has one do the non-essential ones with a check; with none, UNKNOWN."""
    rows = list(containers)
    deciding = [h for essential, checked, h in rows if essential and checked]
    if not deciding:
        deciding = [h for _, checked, h in rows if checked]
    if not deciding:
        return UNKNOWN
    if UNHEALTHY in deciding:
        return UNHEALTHY
    if UNKNOWN in deciding:
        return UNKNOWN
    return HEALTHY


def apply(task: Doc, definitions: list[Doc], reported: dict[str, str]) -> bool:
    """Set the containers' reported healthStatus and the task's derived one.
    True when anything changed."""
    changed = False
    for container in task["containers"]:
        status = reported.get(container["name"])
        if status in (HEALTHY, UNHEALTHY, UNKNOWN) and container.get("healthStatus") != status:
            container["healthStatus"] = status
            changed = True
    by_name = {c["name"]: c for c in definitions}
    derived = task_health(
        (bool(by_name.get(c["name"], {}).get("essential", True)),
         bool(by_name.get(c["name"], {}).get("healthCheck")),
         c.get("healthStatus", UNKNOWN))
        for c in task["containers"]
    )
    if task.get("healthStatus") != derived:
        task["healthStatus"] = derived
        changed = True
    return changed
