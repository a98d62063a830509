"""One managed coroutine per ECS task: the single writer of that task's state
on this host.

It holds, per container, the status it knows and drives the runtime toward the
task's desired status: pull, create and start every container (RUNNING once all
have started), then watch them.  When an essential container exits, or the
server asks for STOPPED, it stops the rest as `docker stop` does (SIGTERM, then
SIGKILL after the container's stopTimeout) and reports the task STOPPED with
every exit code.  Each change is handed to the reporter in order.

A manager is given what it needs (`TaskHost`: the runtime, where reports go,
the clock, and whom to tell when it is done) rather than the whole agent, so
it can be run and tested on its own (tests/agent/test_task_manager.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..clock import Clock
from ..domain import health
from ..domain.status import Status
from ..domain.task_definition import InvalidTaskDefinition, parse_task_size
from . import awsvpc
from .log_shipper import LogShipper
from .metrics import CONTAINERS_STARTED, CONTAINERS_STOPPED
from .runtime import ContainerSpec, ContainerState, Runtime, RuntimeFailure
from .secrets import SecretResolver, SecretsUnavailable
from .specs import container_specs, host_mode_bindings, volume_specs

log = logging.getLogger("portside.agent.task")

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
HEALTH_POLL_S = 0.5  # Docker checks every `interval` (>= 5 s); this only notices the outcome


class ReportSink(Protocol):
    """Where a task's state changes go, in order (agent/reporter.py)."""

    def submit(self, task_arn: str, operation: str, **params: Any) -> None: ...


@dataclass
class TaskHost:
    """What a TaskManager needs of the agent that runs it."""

    runtime: Runtime
    reporter: ReportSink
    clock: Clock
    cluster: str
    instance_arn: str
    stop_timeout: float  # a container's stopTimeout when its definition gives none
    finished: Callable[[TaskManager], None]  # called once, when the task is STOPPED and reported
    # extra environment per (task ARN, container name): the task metadata and credentials endpoints' URIs
    environment: Callable[[str, str], dict[str, str]] = lambda _task, _container: {}
    # a container of the task (task ARN, runtime id) runs, started, restarted or adopted: the
    # credentials endpoint is served in its network namespace
    container_running: Callable[[str, str], Awaitable[None]] | None = None
    # the awslogs driver (agent/log_shipper.py): prepares and follows each container it starts
    log_shipper: LogShipper | None = None
    # secrets and registry credentials resolved at task start (agent/secrets.py)
    secret_resolver: SecretResolver | None = None
    # gives a container its dynamic host ports (agent/host_ports.py; default: Docker's ephemeral ones)
    host_ports: Callable[[ContainerSpec], None] = lambda _spec: None


@dataclass
class ManagedContainer:
    spec: ContainerSpec
    essential: bool
    stop_timeout: float
    runtime_id: str | None = None
    status: Status = Status.PENDING  # PENDING → (CREATED) → RUNNING → STOPPED
    exit_code: int | None = None
    reason: str | None = None
    bindings: list[dict[str, Any]] = field(default_factory=list)
    watcher: asyncio.Task[None] | None = None
    started: bool = False  # it ran, in this agent's life or an earlier one
    health: str = "UNKNOWN"  # HEALTHY / UNHEALTHY / UNKNOWN, as ECS reports it
    depends_on: list[tuple[str, str]] = field(default_factory=list)  # (container, condition)
    start_timeout: float | None = None  # how long dependents wait for it (dependsOn)
    started_at: float | None = None  # monotonic, when this agent started it
    container_arn: str | None = None
    restart_policy: dict[str, Any] | None = None  # the container's restartPolicy when enabled
    restart_count: int = 0
    restart_on_adoption: bool = False  # adopted after it exited meanwhile; its restartPolicy restarts it

    @property
    def created_id(self) -> str:
        """The runtime's id of a container that has been created (CREATED or later)."""
        if self.runtime_id is None:
            raise RuntimeError(f"container {self.spec.name} was never created")
        return self.runtime_id

    def change(self) -> dict[str, Any]:
        """This container as a ContainerStateChange."""
        change: dict[str, Any] = {"containerName": self.spec.name, "status": self.status.name}
        if self.runtime_id:
            change["runtimeId"] = self.runtime_id
        if self.exit_code is not None:
            change["exitCode"] = self.exit_code
        if self.reason:
            change["reason"] = self.reason[:255]
        if self.bindings:
            change["networkBindings"] = self.bindings
        return change


class DependencyFailure(RuntimeFailure):
    """A dependsOn condition that can no longer hold: the task stops, and
    the container that cannot start says why."""

    def __init__(self, container: ManagedContainer, message: str) -> None:
        super().__init__(message)
        self.container = container


class TaskManager:
    def __init__(self, host: TaskHost, task: dict[str, Any], adopted: list[ContainerState]) -> None:
        self.host = host
        self.arn: str = task["taskArn"]
        self.desired = Status.of(task["desiredStatus"])
        self.network_mode: str = task.get("networkMode") or "bridge"
        self.task = task
        self.cluster: str = task.get("clusterArn") or host.cluster  # a Fargate task's, not the host's
        self.sandbox_id: str | None = None  # an awsvpc task's pause container
        specs = container_specs(task, host.cluster, host.instance_arn)
        self.definitions = {c["name"]: c for c in task["containers"]}
        self.stop_reason: str | None = None  # a task-level reason for the STOPPED report
        self.containers = {
            c["name"]: ManagedContainer(
                spec=specs[c["name"]],
                essential=c.get("essential", True),
                stop_timeout=float(c.get("stopTimeout") or host.stop_timeout),
                depends_on=[(d["containerName"], d["condition"]) for d in c.get("dependsOn") or []],
                start_timeout=float(c["startTimeout"]) if c.get("startTimeout") else None,
                container_arn=c.get("containerArn"),
                restart_policy=c["restartPolicy"] if (c.get("restartPolicy") or {}).get("enabled") else None,
            )
            for c in task["containers"]
        }
        self.volumes = volume_specs(task, host.instance_arn)
        self._changed = asyncio.Event()
        self._essential_exited = False
        self._reported_running = False
        self._pull_started: float | None = None
        self._pull_stopped: float | None = None
        self._health_watch: asyncio.Task[None] | None = None
        self.driver: asyncio.Task[None] | None = None  # run(), once started
        for state in adopted:
            self._adopt(state)

    # -- inputs ---------------------------------------------------------------

    def cancel(self) -> None:
        """The agent is stopping: stop driving this task, leave its containers."""
        if self.driver is not None:
            self.driver.cancel()

    def start(self) -> asyncio.Task[None]:
        """Run the driver (once); the manager keeps the reference."""
        if self.driver is None:
            self.driver = asyncio.create_task(self.run(), name=f"task-manager {self.arn}")
        return self.driver

    def set_desired(self, desired: str) -> None:
        status = Status.of(desired)
        if status != self.desired:
            self.desired = status
            self._changed.set()

    def _adopt(self, state: ContainerState) -> None:
        """A container found after an agent restart: carry on with it."""
        if awsvpc.is_pause(state):
            self.sandbox_id = state.runtime_id
            return
        c = self.containers.get(state.container_name)
        if c is None:
            return
        c.runtime_id = state.runtime_id
        c.started = state.running or state.exit_code is not None
        if state.started_at is not None:  # restartAttemptPeriod counts from Docker's start, not adoption
            c.started_at = time.monotonic() - max(0.0, time.time() - state.started_at)
        if state.running:
            c.status = Status.RUNNING
            c.bindings = self._bindings(c, state)
        elif state.exit_code is not None and self._should_restart(c, state):
            c.status, c.restart_on_adoption = Status.RUNNING, True  # exited while no agent watched it
        elif state.exit_code is not None:
            self._record_exit(c, state)
        else:
            c.status = Status.CREATED

    # -- the driver -------------------------------------------------------------

    async def run(self) -> None:
        try:
            for c in self.containers.values():  # adopted after a restart: ship on from where it got to
                if c.runtime_id and c.started:
                    if self.host.log_shipper is not None:
                        self.host.log_shipper.follow(self.arn, self.definitions[c.spec.name], c.runtime_id)
            if any(c.spec.health_check for c in self.containers.values()):
                self._health_watch = asyncio.create_task(self._watch_health())
            for c in self.containers.values():
                if c.restart_on_adoption:
                    await self._restart_adopted(c)
                if c.status == Status.RUNNING and c.watcher is None:
                    await self._running(c)
                    c.watcher = asyncio.create_task(self._watch(c))
            if self.desired == Status.RUNNING:
                await self._start()
            while not self._all_stopped():
                if self.desired == Status.STOPPED or self._essential_exited:
                    await self._stop_all()
                else:
                    await self._changed.wait()
                    self._changed.clear()
            self._report_stopped()
        except asyncio.CancelledError:
            # The agent is stopping: the containers keep running and the next
            # agent adopts them, so nothing is reported, stopped or removed.
            for c in self.containers.values():
                if c.watcher is not None:
                    c.watcher.cancel()
            if self._health_watch is not None:
                self._health_watch.cancel()
            raise
        except Exception:  # a bug must not leave the task unreported
            log.exception("task %s failed in the agent", self.arn)
            for c in self.containers.values():
                if c.status != Status.STOPPED:
                    c.status, c.reason = Status.STOPPED, "InternalError: agent failure"
            self._report_stopped()
        finally:
            if self._health_watch is not None:
                self._health_watch.cancel()
            self.host.finished(self)

    async def _start(self) -> None:
        runtime = self.host.runtime
        pending = [c for c in self.containers.values() if c.status == Status.PENDING]
        current: ManagedContainer | None = None
        try:
            if self.network_mode == "awsvpc" and pending:
                current = pending[0]  # a failure is reported as its reason
                await self._open_sandbox(pending)
            current = pending[0] if pending else None
            auths: dict[str, dict[str, str] | None] = {}
            for current in pending:  # secrets resolved before anything is pulled (agent/secrets.py)
                if self.host.secret_resolver is not None:
                    definition = self.definitions[current.spec.name]
                    resolved = await self.host.secret_resolver.resolve(definition)
                    current.spec.environment.update(resolved.environment)
                    auths[current.spec.name] = resolved.registry_auth
            self._pull_started = self.host.clock.now()
            for current in pending:
                await runtime.ensure_image(current.spec.image, auth=auths.get(current.spec.name))
            self._pull_stopped = self.host.clock.now()
            current = None
            for volume in self.volumes:
                await runtime.ensure_volume(volume)
            cpu, memory = self._task_size()
            if cpu or memory:  # the task's own cgroup bounds its containers together, as on ECS
                parent = await runtime.task_cgroup(self.arn, cpu, memory)
                for c in pending:
                    c.spec.cgroup_parent = parent
            for current in _creation_order(pending):
                if self.desired != Status.RUNNING:
                    break
                current.spec.volumes_from_ids = [
                    f"{self.containers[name].runtime_id}:{'ro' if read_only else 'rw'}"
                    for name, read_only in current.spec.volumes_from
                ]
                current.spec.environment.update(self.host.environment(self.arn, current.spec.name))
                self.host.host_ports(current.spec)
                current.runtime_id = await runtime.create(current.spec)
                current.status = Status.CREATED
            current = None
            await self._start_in_order()
        except RuntimeFailure as failure:
            if isinstance(failure, SecretsUnavailable):
                self.stop_reason = failure.reason  # the task's stoppedReason, as ECS reports it
            log.warning("task %s: container %s: %s", self.arn.rpartition("/")[2],
                        current.spec.name if current else "?", failure.reason)
            self._pull_stopped = self._pull_stopped or self.host.clock.now()
            target = failure.container if isinstance(failure, DependencyFailure) else current
            target = target or (pending[0] if pending else None)
            if target is not None:
                target.reason = failure.reason
            self.desired = Status.STOPPED  # the running ones are stopped by the main loop
            for c in self.containers.values():
                if c.status in (Status.PENDING, Status.CREATED):
                    c.status = Status.STOPPED
            return
        started = all(c.started for c in self.containers.values())
        if started and self.desired == Status.RUNNING and not self._essential_exited:
            self._reported_running = True
            self._report("submit_task_state_change", status="RUNNING",
                         containers=[c.change() for c in self.containers.values()],
                         **self._pull_times())

    def _task_size(self) -> tuple[int | None, int | None]:
        """Task-level cpu (units) and memory (MiB), when the task has them."""
        try:
            return (parse_task_size(self.task.get("cpu"), "cpu"),
                    parse_task_size(self.task.get("memory"), "memory"))
        except InvalidTaskDefinition:  # the server checked them: never here
            return None, None

    async def _start_in_order(self) -> None:
        """Start each created container once its dependsOn conditions hold
        (START, COMPLETE, SUCCESS, HEALTHY), in the definition's order
        otherwise.  A condition that can no longer hold raises
        DependencyFailure, which stops the task."""
        runtime = self.host.runtime
        while self.desired == Status.RUNNING and not self._essential_exited:
            waiting = [c for c in self.containers.values() if c.status == Status.CREATED]
            if not waiting:
                return
            progressed = False
            for c in waiting:
                if self.desired != Status.RUNNING or not self._dependencies_hold(c):
                    continue
                definition = self.definitions[c.spec.name]
                try:
                    if self.host.log_shipper is not None:
                        await self.host.log_shipper.prepare(self.arn, definition, c.created_id)
                    state = await runtime.start(c.created_id)
                    if self.host.log_shipper is not None:
                        self.host.log_shipper.follow(self.arn, definition, c.created_id)
                except RuntimeFailure as failure:
                    raise DependencyFailure(c, failure.reason) from failure
                CONTAINERS_STARTED.inc()
                c.status, c.started, c.started_at = Status.RUNNING, True, time.monotonic()
                c.bindings = self._bindings(c, state)
                await self._running(c)
                c.watcher = asyncio.create_task(self._watch(c))
                progressed = True
            if not progressed:  # wait for an exit, a health change, or a timeout to pass
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), 0.5)
                except TimeoutError:
                    pass

    def _dependencies_hold(self, target: ManagedContainer) -> bool:
        """Whether every dependsOn condition of `target` holds now; raises
        DependencyFailure when one never will (as the ECS agent's dependency
        graph decides)."""
        holds = True
        for name, condition in target.depends_on:
            dep = self.containers[name]
            prefix = f"dependency graph: container ordering dependency [{name}] for target [{target.spec.name}]"
            exited = dep.status == Status.STOPPED and dep.started
            if dep.status == Status.STOPPED and not dep.started:
                raise DependencyFailure(target, f"{prefix} will never start.")
            if condition == "START":
                holds = holds and dep.started
                continue
            if condition == "SUCCESS" and exited and dep.exit_code != 0:
                raise DependencyFailure(target, f"{prefix} did not exit successfully "
                                                f"(exit code {dep.exit_code}).")
            if condition == "HEALTHY" and dep.health == health.UNHEALTHY:
                raise DependencyFailure(target, f"{prefix} is UNHEALTHY.")
            if condition == "HEALTHY" and exited:
                raise DependencyFailure(target, f"{prefix} exited before it was HEALTHY.")
            ok = exited if condition in ("COMPLETE", "SUCCESS") else dep.health == health.HEALTHY
            if not ok and dep.started_at is not None and dep.start_timeout is not None \
                    and time.monotonic() > dep.started_at + dep.start_timeout:
                raise DependencyFailure(target, f"{prefix} has timed out.")
            holds = holds and ok
        return holds

    async def _open_sandbox(self, joining: list[ManagedContainer]) -> None:
        """The task's network namespace (see agent/awsvpc.py), its address
        reported before any container starts in it."""
        sandbox = await awsvpc.open_sandbox(self.host.runtime, self.task, self.host.cluster,
                                            self.host.instance_arn, self.sandbox_id)
        self.sandbox_id = sandbox.runtime_id
        for c in joining:
            awsvpc.join(c.spec, sandbox)
        attachment = (self.task.get("awsvpc") or {}).get("attachmentId")
        if attachment:
            self._report("report_attachment", attachmentId=attachment, privateIPv4Address=sandbox.ip,
                         macAddress=sandbox.mac)

    async def _watch(self, c: ManagedContainer) -> None:
        while True:
            state = await self.host.runtime.wait(c.created_id)
            if not self._should_restart(c, state):
                break
            try:  # in place, as ECS does: the same container, started again
                await self.host.runtime.start(c.created_id)
            except RuntimeFailure:
                break
            c.restart_count += 1
            c.started_at = time.monotonic()
            await self._running(c)
            log.warning("restarted container %s of %s (exit code %s, restart %d)",
                        c.spec.name, self.arn, state.exit_code, c.restart_count)
        self._record_exit(c, state)
        if not c.essential and not self._all_stopped() and self.desired == Status.RUNNING:
            self._report("submit_container_state_change", containerName=c.spec.name,
                         **{k: v for k, v in c.change().items() if k != "containerName"})
        self._changed.set()

    async def _restart_adopted(self, c: ManagedContainer) -> None:
        """An adopted container that exited while no agent ran: its
        restartPolicy starts it again in place, as the watcher would have."""
        c.restart_on_adoption = False
        try:
            state = await self.host.runtime.start(c.created_id)
        except RuntimeFailure:
            exited = await self.host.runtime.inspect(c.created_id)
            self._record_exit(c, exited or ContainerState(c.created_id, {}, running=False))
            return
        c.restart_count += 1
        c.started_at = time.monotonic()
        c.bindings = self._bindings(c, state)
        log.warning("restarted container %s of %s, which exited while the agent was down (restart %d)",
                    c.spec.name, self.arn, c.restart_count)

    async def _running(self, c: ManagedContainer) -> None:
        if self.host.container_running is not None and c.runtime_id:
            await self.host.container_running(self.arn, c.runtime_id)

    def _should_restart(self, c: ManagedContainer, state: ContainerState) -> bool:
        """restartPolicy: restart an exited container unless its exit code is
        ignored, it ran less than restartAttemptPeriod (default 300 s), or the
        task is stopping."""
        policy = c.restart_policy
        if policy is None or self.desired != Status.RUNNING or self._essential_exited or state.exit_code is None:
            return False
        if state.exit_code in (policy.get("ignoredExitCodes") or []):
            return False
        period = float(policy.get("restartAttemptPeriod") or 300)
        if state.started_at is not None and state.finished_at is not None:  # how long it ran, by Docker
            return state.finished_at - state.started_at >= period
        return c.started_at is not None and time.monotonic() - c.started_at >= period

    async def _watch_health(self) -> None:
        """Docker runs the health checks; this follows their outcome (every
        HEALTH_POLL_S) and reports each change of a container's healthStatus."""
        while True:
            changed = False
            for c in self.containers.values():
                if c.spec.health_check is None or c.status != Status.RUNNING or not c.runtime_id:
                    continue
                state = await self.host.runtime.inspect(c.runtime_id)
                status = health.from_docker(state.health if state else None)
                if state is not None and status != c.health:
                    c.health, changed = status, True
            if changed:
                self._report("submit_health", containers=[
                    {"containerName": c.spec.name, "healthStatus": c.health}
                    for c in self.containers.values() if c.spec.health_check])
                self._changed.set()
            await asyncio.sleep(HEALTH_POLL_S)

    def _record_exit(self, c: ManagedContainer, state: ContainerState) -> None:
        if c.status == Status.RUNNING:
            CONTAINERS_STOPPED.inc()
        c.status = Status.STOPPED
        c.exit_code = state.exit_code
        if state.oom_killed:
            c.reason = OOM_REASON
        if c.essential:
            self._essential_exited = True

    async def _stop_all(self) -> None:
        runtime = self.host.runtime
        live = [c for c in self.containers.values() if c.status == Status.RUNNING]
        for c in self.containers.values():
            if c.status in (Status.PENDING, Status.CREATED):
                c.status = Status.STOPPED  # never started: nothing to stop
        # Dependents first, then what they depend on: dependsOn reversed.
        remaining = list(live)
        while remaining:
            needed = {name for c in remaining for name, _ in c.depends_on}
            wave = [c for c in remaining if c.spec.name not in needed] or remaining
            await asyncio.gather(*(runtime.stop(c.created_id, c.stop_timeout) for c in wave))
            remaining = [c for c in remaining if c not in wave]
        watchers = [c.watcher for c in live if c.watcher is not None]
        if watchers:
            await asyncio.gather(*watchers, return_exceptions=True)
        for c in live:  # stopped, but no watcher saw it (adopted without one)
            if c.status != Status.STOPPED:
                state = await runtime.inspect(c.created_id)
                self._record_exit(c, state or ContainerState(c.runtime_id or "", {}, running=False))

    # -- reporting --------------------------------------------------------------

    def _all_stopped(self) -> bool:
        return all(c.status == Status.STOPPED for c in self.containers.values())

    def _report_stopped(self) -> None:
        if not self._reported_running and all(c.started for c in self.containers.values()):
            # Every container ran, but RUNNING was never reported in this life
            # (the agent died before it reached the server, and the containers
            # exited meanwhile): say so first, or the server would conclude
            # the task failed to start.  A repeat is harmless.
            self._reported_running = True
            self._report("submit_task_state_change", status="RUNNING", containers=[
                {"containerName": c.spec.name, "status": "RUNNING", "runtimeId": c.runtime_id,
                 **({"networkBindings": c.bindings} if c.bindings else {})}
                for c in self.containers.values()], **self._pull_times())
        self._report("submit_task_state_change", status="STOPPED",
                     containers=[c.change() for c in self.containers.values()],
                     executionStoppedAt=self.host.clock.now(), **self._pull_times(),
                     **({"reason": self.stop_reason} if self.stop_reason else {}))

    def known_status(self) -> str:
        """The task's status as this agent knows it (the metadata endpoint)."""
        statuses = {c.status for c in self.containers.values()}
        if statuses == {Status.STOPPED}:
            return "STOPPED"
        if all(c.started for c in self.containers.values()) and Status.PENDING not in statuses:
            return "RUNNING"
        return "PENDING"

    def pull_times(self) -> dict[str, float]:
        return self._pull_times()

    def _pull_times(self) -> dict[str, float]:
        times = {}
        if self._pull_started:
            times["pullStartedAt"] = self._pull_started
        if self._pull_stopped:
            times["pullStoppedAt"] = self._pull_stopped
        return times

    def _report(self, operation: str, **params: Any) -> None:
        self.host.reporter.submit(self.arn, operation, cluster=self.cluster, task=self.arn, **params)

    def _bindings(self, c: ManagedContainer, state: ContainerState) -> list[dict[str, Any]]:
        if self.network_mode == "host":
            return host_mode_bindings(c.spec)
        return state.network_bindings


def _creation_order(containers: list[ManagedContainer]) -> list[ManagedContainer]:
    """Containers whose volumes another uses (volumesFrom) are created first;
    otherwise the definition's order.  Registration refuses unknown names; a
    cycle keeps the definition's order for what remains."""
    remaining = list(containers)
    ordered: list[ManagedContainer] = []
    while remaining:
        names = {c.spec.name for c in remaining}
        ready = [c for c in remaining if not any(src in names for src, _ in c.spec.volumes_from)]
        if not ready:
            ready = remaining[:1]
        ordered.extend(ready)
        remaining = [c for c in remaining if c not in ready]
    return ordered
