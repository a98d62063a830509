"""The container runtime boundary: what the agent needs from Docker.

Two implementations share it: `DockerRuntime` (the Docker SDK for Python) and
`FakeRuntime` (scripted exits and timings, for scale tests and simulations),
the way httpx ships a mock transport beside its real ones.  Every container
carries labels that tie it to its task, so a restarted agent can find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

LABEL_TASK_ARN = "com.amazonaws.ecs.task-arn"
LABEL_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_FAMILY = "com.amazonaws.ecs.task-definition-family"
LABEL_REVISION = "com.amazonaws.ecs.task-definition-version"
LABEL_INSTANCE = "com.portside.container-instance-arn"


class RuntimeFailure(Exception):
    """A step the runtime could not do; `reason` is the ECS container reason,
    e.g. `CannotPullContainerError: ...`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:255]


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = False
    named_volume: bool = False  # a Docker volume rather than a host path


@dataclass
class PortMapping:
    container_port: int
    host_port: int | None  # None: a free ephemeral port
    protocol: str = "tcp"


@dataclass
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass
class HealthCheck:
    """A Docker health check (seconds), from the container's `healthCheck`."""

    test: list[str]
    interval: float = 30
    timeout: float = 5
    retries: int = 3
    start_period: float = 0


@dataclass
class VolumeSpec:
    """A Docker volume the task needs before its containers are created."""

    name: str
    driver: str = "local"
    driver_opts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    task_scoped: bool = True  # removed with the task
    autoprovision: bool = True  # a shared volume may be created when missing


@dataclass
class ContainerSpec:
    """One container as the runtime must create it (the Docker options each
    ECS container-definition member becomes; see domain.container_support)."""

    name: str
    image: str
    labels: dict[str, str]
    command: list[str] | None = None
    entry_point: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    cpu_shares: int | None = None
    memory_mib: int | None = None
    memory_reservation_mib: int | None = None
    network_mode: str = "bridge"
    ports: list[PortMapping] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    hostname: str | None = None
    network_disabled: bool = False
    privileged: bool = False
    read_only: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    extra_hosts: dict[str, str] = field(default_factory=dict)
    security_opt: list[str] = field(default_factory=list)
    stdin_open: bool = False
    tty: bool = False
    ulimits: list[Ulimit] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)  # host:container:permissions
    init: bool = False
    shm_size_mib: int | None = None
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> mount options
    max_swap_mib: int | None = None
    swappiness: int | None = None
    pid_mode: str | None = None
    ipc_mode: str | None = None
    cgroup_parent: str | None = None  # the task's cgroup (agent/task_cgroup.py), when it has one
    log_driver: str | None = None
    log_options: dict[str, str] = field(default_factory=dict)
    # volumesFrom as (source container name, read only); the task manager
    # turns them into Docker's `ID:ro|rw` once the sources exist.
    volumes_from: list[tuple[str, bool]] = field(default_factory=list)
    volumes_from_ids: list[str] = field(default_factory=list)
    health_check: HealthCheck | None = None


@dataclass
class ContainerState:
    """What the runtime knows of a container."""

    runtime_id: str
    labels: dict[str, str]
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    health: str | None = None  # Docker's: starting, healthy, unhealthy (None: no check)
    network_bindings: list[dict[str, object]] = field(default_factory=list)
    # user-defined networks the container is on: name -> (IPv4 address, MAC address)
    networks: dict[str, tuple[str, str]] = field(default_factory=dict)
    started_at: float | None = None  # epoch seconds, when it last started (Docker's StartedAt)
    finished_at: float | None = None  # epoch seconds, when it last exited

    @property
    def task_arn(self) -> str:
        return self.labels.get(LABEL_TASK_ARN, "")

    @property
    def container_name(self) -> str:
        return self.labels.get(LABEL_CONTAINER_NAME, "")


class Runtime(Protocol):
    async def describe(self) -> str:
        """A version string for versionInfo (e.g. `DockerVersion: 20.10`)."""
        ...

    async def ensure_image(self, image: str, auth: dict[str, str] | None = None) -> None:
        """Use the image if present locally, pull it otherwise (RuntimeFailure),
        with `auth` (registry username/password) when given."""
        ...

    async def create(self, spec: ContainerSpec) -> str:
        ...

    async def start(self, runtime_id: str) -> ContainerState:
        ...

    async def stop(self, runtime_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds, as `docker stop`."""
        ...

    async def wait(self, runtime_id: str) -> ContainerState:
        """Return once the container has exited."""
        ...

    async def inspect(self, runtime_id: str) -> ContainerState | None:
        ...

    async def list_managed(self, instance_arn: str) -> list[ContainerState]:
        """Every container this instance's agent created, running or not."""
        ...

    async def remove(self, runtime_id: str) -> None:
        ...

    async def output_tail(self, runtime_id: str, max_bytes: int) -> bytes:
        """At least the last `max_bytes` of the container's output (stdout and
        stderr as the runtime interleaves them) when it has that many; b"" for
        a container that is gone or keeps none."""
        ...

    async def ensure_volume(self, volume: VolumeSpec) -> None:
        """Create the volume unless it exists (RuntimeFailure when a shared
        volume without autoprovision is missing)."""
        ...

    async def remove_volume(self, name: str) -> None:
        ...

    async def task_cgroup(self, task_arn: str, cpu_units: int | None, memory_mib: int | None) -> str | None:
        """Make the task's own cgroup with its task-level limits; the parent to
        give its containers, or None when this runtime makes none."""
        ...

    async def remove_task_cgroup(self, task_arn: str) -> None:
        ...

    async def list_task_volumes(self, instance_arn: str) -> list[tuple[str, str]]:
        """(name, task ARN) of the task-scoped volumes made for tasks on that instance."""
        ...

    async def ensure_network(self, name: str) -> None:
        """A user-defined bridge network of that name exists (awsvpc tasks' subnets)."""
        ...

    async def ensure_pause_image(self) -> str:
        """The image of the container that holds an awsvpc task's network namespace."""
        ...

    async def inspect_raw(self, runtime_id: str) -> dict[str, Any] | None:
        """Docker's own inspect document (the metadata endpoint shows parts of it)."""
        ...

    async def stats(self, runtime_id: str) -> dict[str, Any] | None:
        """One Docker stats sample."""
        ...

    async def bridge_gateway(self) -> str | None:
        """The host's address on the default bridge (where containers reach the agent)."""
        ...

    async def close(self) -> None:
        ...
