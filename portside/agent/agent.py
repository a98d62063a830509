"""The Portside agent: registers its host as a container instance, long-polls
the server for the tasks placed on it, and runs each through a TaskManager.

After a restart it finds its instance again (local checkpoint) and its
containers again (labels): running ones keep running under their task, ones
that exited meanwhile are reported with their exit codes, and containers whose
task the server no longer runs are removed.  Nothing is started twice.

When the server no longer knows its instance (its state was lost or restored
from an older backup), the agent registers anew, as the ECS agent does, and
stops the containers of the tasks the server no longer knows.  When its
instance is deregistered it stops its tasks' containers and exits; started
again, it registers a new instance and removes what the old one left.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..clock import Clock, SystemClock
from ..domain.resources import HOST_PORT_RANGE_ATTRIBUTE
from . import awsvpc
from .credentials_endpoint import CredentialsEndpoint
from .exec_channel import run_exec_channel
from .files import write_atomically
from .host_ports import HostPortRange
from .log_shipper import DockerOutput, LogShipper
from .metadata_endpoint import MetadataEndpoint
from .output_keeper import KEEP_BYTES, OutputKeeper
from .reporter import Reporter
from .runtime import LABEL_CONTAINER_NAME, ContainerState, Runtime
from .secrets import SecretResolver
from .server_client import ServerClient, ServerRefused, ServerUnavailable
from .task_manager import TaskHost, TaskManager

log = logging.getLogger("portside.agent")

RESERVED_PORTS = ["22", "2375", "2376", "51678", "51679"]  # as the ECS agent reserves them
CAPABILITIES = [
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.22",
    "com.amazonaws.ecs.capability.docker-remote-api.1.25",
    "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    "com.amazonaws.ecs.capability.docker-remote-api.1.30",
    "com.amazonaws.ecs.capability.logging-driver.json-file",
    "com.amazonaws.ecs.capability.logging-driver.none",
    "com.amazonaws.ecs.capability.logging-driver.awslogs",  # shipped by the agent (log_shipper.py)
    "ecs.capability.execution-role-awslogs",
    "ecs.capability.secrets.asm.environment-variables",  # resolved by the agent (secrets.py)
    "ecs.capability.secrets.ssm.environment-variables",
    "ecs.capability.private-registry-authentication.secretsmanager",
    "ecs.capability.container-health-check",
    "ecs.capability.task-cpu-mem-limit",
    "ecs.capability.docker-plugin.local",
]


@dataclass
class AgentConfig:
    cluster: str = "default"
    data_dir: Path = Path("~/.portside/agent").expanduser()
    stop_timeout: float = 30.0
    availability_zone: str = "local-1a"
    cpu_units: int | None = None  # default: 1024 per core
    memory_mib: int | None = None  # default: host memory less a reserve
    reserved_memory_mib: int = 256
    poll_wait: float = 20.0
    extra_attributes: dict[str, str] = field(default_factory=dict)
    host_port_range: tuple[int, int] | None = None  # this agent's own host ports (a share of its host)


class Agent:
    def __init__(self, client: ServerClient, runtime: Runtime, config: AgentConfig,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.config = config
        self.clock = clock or SystemClock()
        self.cluster = config.cluster
        self.stop_timeout = config.stop_timeout
        self.reporter = Reporter(client)
        docker_client = getattr(runtime, "_client", None)  # the Docker runtime's SDK client; the fake has none
        self.secret_resolver = SecretResolver(client.call_service)
        self.log_shipper = LogShipper(client.call_service, DockerOutput(docker_client.api) if docker_client else None,
                                      config.data_dir)
        self.instance_arn = ""
        self.host_id = ""  # this host's name (`ec2InstanceId`), chosen once and kept in the checkpoint
        self.managers: dict[str, TaskManager] = {}
        self._done: set[str] = set()
        self._clean_ups: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak references)
        self._stopping = asyncio.Event()
        self.registered = asyncio.Event()
        self._former_arns: list[str] = []  # instances this host was before registering anew
        self._checkpoint_pending = False  # the last checkpoint could not be written
        self.metadata = MetadataEndpoint(self, config.data_dir)
        self.credentials = CredentialsEndpoint(self.metadata.credentials_id, self.clock.now)
        self.host_ports = HostPortRange(*config.host_port_range) if config.host_port_range else None
        self.output_keeper = OutputKeeper(config.data_dir)  # removed containers' output (`portside logs`)

    # -- registration -----------------------------------------------------------

    @property
    def _checkpoint(self) -> Path:
        return checkpoint_path(self.config.data_dir)

    async def register(self) -> str:
        """Register this host, or re-register the instance it was.  The host
        names itself (an EC2-style instance id in the identity document, kept
        in the checkpoint before the first attempt): a registration the server
        committed but whose answer was lost (server killed in between) is found
        by that name and re-registered, not registered a second time."""
        saved = _read_json(self._checkpoint)
        self.host_id = saved.get("ec2InstanceId") or "i-" + secrets.token_hex(9)[:17]
        params: dict[str, Any] = {
            "cluster": self.cluster,
            "totalResources": self._resources(),
            "versionInfo": {"agentVersion": __version__, "agentHash": "portside",
                            "dockerVersion": await self.runtime.describe()},
            "attributes": self._attributes(),
            "instanceIdentityDocument": json.dumps({"instanceId": self.host_id}),
        }
        if saved.get("cluster") == self.cluster and saved.get("containerInstanceArn"):
            params["containerInstanceArn"] = saved["containerInstanceArn"]
        elif saved.get("ec2InstanceId") != self.host_id:
            self._save_checkpoint()
        # an earlier attempt may have been committed unanswered: by an earlier life of this agent
        # (it had named the host), or by this one (the server became unavailable mid-call)
        may_have_landed = bool(saved.get("ec2InstanceId"))
        delay = 0.2
        while True:
            try:
                if "containerInstanceArn" not in params and may_have_landed \
                        and (earlier := await self._registered_as_host()):
                    params["containerInstanceArn"] = earlier
                out = await self.client.call("register_container_instance", **params)
                break
            except ServerRefused as exc:
                if "containerInstanceArn" not in params:
                    raise
                log.warning("re-registration refused (%s); registering anew", exc)
                self._former_arns.append(params.pop("containerInstanceArn"))
            except ServerUnavailable:
                may_have_landed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.instance_arn = out["containerInstance"]["containerInstanceArn"]
        # the name the instance has (one registered before hosts named themselves keeps its own)
        self.host_id = out["containerInstance"].get("ec2InstanceId") or self.host_id
        self._save_checkpoint()
        self.registered.set()
        return self.instance_arn

    async def _registered_as_host(self) -> str | None:
        """An ACTIVE or DRAINING instance of the cluster registered under this
        host's name that this agent does not know of (its answer was lost)."""
        try:
            out = await self.client.call("list_container_instances", cluster=self.cluster,
                                         filter=f"ec2InstanceId == {self.host_id}")
        except ServerRefused:  # no such cluster: registering says so
            return None
        found = [arn for arn in out["containerInstanceArns"] if arn not in self._former_arns]
        return found[0] if found else None

    def _save_checkpoint(self) -> bool:
        """Write which instance this host is; a full or read-only data dir is
        logged once and tried again on every poll (the containers run on)."""
        try:
            _write_json(self._checkpoint, {"cluster": self.cluster, "containerInstanceArn": self.instance_arn,
                                           "ec2InstanceId": self.host_id})
        except OSError as exc:
            if not self._checkpoint_pending:
                log.error("could not save the agent's checkpoint %s (%s); the agent runs on and tries again",
                          self._checkpoint, exc.strerror or exc)
            self._checkpoint_pending = True
            return False
        if self._checkpoint_pending:
            log.warning("saved the agent's checkpoint %s", self._checkpoint)
        self._checkpoint_pending = False
        return True

    def _resources(self) -> list[dict[str, Any]]:
        cpu = self.config.cpu_units or 1024 * (os.cpu_count() or 1)
        memory = self.config.memory_mib or max(0, _host_memory_mib() - self.config.reserved_memory_mib)
        return [
            {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": RESERVED_PORTS},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ]

    def _attributes(self) -> list[dict[str, str]]:
        attributes = {
            "ecs.os-type": "linux",
            "ecs.os-family": "LINUX",
            "ecs.cpu-architecture": "x86_64" if os.uname().machine == "x86_64" else "arm64",
            "ecs.availability-zone": self.config.availability_zone,
            **{name: "" for name in CAPABILITIES},
            **self.config.extra_attributes,
        }
        if self.host_ports:
            attributes[HOST_PORT_RANGE_ATTRIBUTE] = str(self.host_ports)
        return [{"name": k, "value": v} if v else {"name": k} for k, v in attributes.items()]

    # -- the loop ---------------------------------------------------------------

    async def _containers(self) -> dict[str, list[ContainerState]]:
        """This host's containers by task: of its instance and of any former one."""
        found: dict[str, list[ContainerState]] = defaultdict(list)
        for arn in dict.fromkeys([self.instance_arn, *self._former_arns]):
            for state in await self.runtime.list_managed(arn):
                found[state.task_arn].append(state)
        return found

    async def _register_anew(self, why: str) -> None:
        """The server does not know this instance: register a new one, and stop
        the tasks the server knew it by (their reports will be refused)."""
        log.error("the server no longer knows container instance %s (%s); registering anew",
                  self.instance_arn, why)
        if self.instance_arn:
            self._former_arns.append(self.instance_arn)
        self.instance_arn = ""
        self._save_checkpoint()
        await self.register()
        log.warning("registered anew as %s", self.instance_arn)
        for arn, manager in list(self.managers.items()):
            log.warning("stopping the containers of task %s: the server no longer knows it", arn)
            manager.set_desired("STOPPED")

    async def _stop_everything(self) -> None:
        """Stop every task's containers (the instance is gone), within a bound."""
        for arn, manager in list(self.managers.items()):
            log.warning("stopping the containers of task %s: its instance was deregistered", arn)
            manager.set_desired("STOPPED")
        deadline = asyncio.get_running_loop().time() + self.stop_timeout + 30
        while self.managers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await self.reporter.flush_all(10.0)

    async def run(self) -> None:
        if not self.instance_arn:
            await self.register()
        if not self.metadata.base:
            gateway = await self.runtime.bridge_gateway()
            if gateway:
                await self.metadata.start(gateway)
            else:
                log.warning("no Docker bridge found: containers get no task metadata endpoint")
        if not self.credentials.host_base:
            try:
                await self.credentials.start_host(self.config.data_dir / "credentials-port")
            except OSError as exc:
                log.error("could not listen on the loopback for host-mode tasks' role credentials: %s", exc)
        found = await self._containers()
        version: str | None = None
        first = True
        delay = 0.2
        unreachable_since: float | None = None
        while not self._stopping.is_set():
            try:
                answer = await self.client.poll(self.cluster, self.instance_arn, version,
                                                0 if first else self.config.poll_wait)
            except ServerUnavailable as exc:
                if unreachable_since is None:
                    unreachable_since = time.monotonic()
                    log.warning("the server is unreachable (%s); retrying", str(exc)[:200])
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except ServerRefused as exc:
                if _instance_unknown(exc):
                    try:
                        await self._register_anew(str(exc))
                    except (ServerRefused, ServerUnavailable) as again:
                        log.error("registering anew failed: %s; trying again in 5 s", again)
                        await self._sleep(5.0)
                        continue
                    found, version, first = await self._containers(), None, True
                    continue
                log.error("the server refused this agent's poll: %s", exc)
                await self._sleep(5.0)
                continue
            except Exception:  # never let one bad answer end the agent
                log.exception("polling the server failed")
                await self._sleep(5.0)
                continue
            delay = 0.2
            if unreachable_since is not None:
                log.info("reconnected to the server after %.1f s", time.monotonic() - unreachable_since)
                unreachable_since = None
            if self._checkpoint_pending:
                self._save_checkpoint()
            if self.metadata.unsaved:
                self.metadata.save()
            version = answer["version"]
            if answer.get("instanceStatus") == "INACTIVE":
                log.error("container instance %s was deregistered; the agent stops its tasks and exits",
                          self.instance_arn)
                await self._stop_everything()
                return
            for task in answer["tasks"]:
                self._apply(task, found.pop(task["taskArn"], []))
            # finished tasks the server has heard of need no more remembering
            self._done.intersection_update(t["taskArn"] for t in answer["tasks"])
            if first:
                await self._remove_orphans(
                    [s for arn, states in found.items() if arn not in self.managers for s in states])
                first = False
                # ECS Exec sessions (agent/exec_channel.py), once the first poll has made this agent known
                self._exec_channel = asyncio.ensure_future(run_exec_channel(
                    self.client, self.instance_arn, getattr(self.runtime, "docker_client", None), self._stopping,
                    self.output_keeper))

    def _apply(self, task: dict[str, Any], adopted: list[ContainerState]) -> None:
        arn = task["taskArn"]
        manager = self.managers.get(arn)
        if manager is not None:
            manager.set_desired(task["desiredStatus"])
            return
        if arn in self._done:
            return  # finished here; the server has not yet heard of it
        self.credentials.environment(task)  # the task role's keys, if it has one (in memory only)
        manager = TaskManager(self._task_host(), task, adopted)
        self.managers[arn] = manager
        manager.start()

    def _task_host(self) -> TaskHost:
        return TaskHost(runtime=self.runtime, reporter=self.reporter, clock=self.clock, cluster=self.cluster,
                        instance_arn=self.instance_arn, stop_timeout=self.stop_timeout, finished=self._finished,
                        environment=self._environment, container_running=self._container_running,
                        log_shipper=self.log_shipper, secret_resolver=self.secret_resolver,
                        host_ports=self.host_ports.assign if self.host_ports else lambda _spec: None)

    def _environment(self, task_arn: str, container: str) -> dict[str, str]:
        return {**self.metadata.environment(task_arn, container), **self.credentials.variables(task_arn)}

    async def _container_running(self, task_arn: str, runtime_id: str) -> None:
        """Serve the task role's keys in the container's network namespace."""
        if not self.credentials.serves(task_arn):
            return
        attrs = await self.runtime.inspect_raw(runtime_id) or {}
        await self.credentials.serve_in(task_arn, int((attrs.get("State") or {}).get("Pid") or 0))

    def _finished(self, manager: TaskManager) -> None:
        self.managers.pop(manager.arn, None)
        self._done.add(manager.arn)
        clean_up = asyncio.create_task(self._clean_up(manager))
        self._clean_ups.add(clean_up)
        clean_up.add_done_callback(self._clean_ups.discard)

    async def _clean_up(self, manager: TaskManager) -> None:
        self.credentials.forget(manager.arn)
        await self.reporter.flush(manager.arn)
        for c in manager.containers.values():
            if c.runtime_id:
                await self.log_shipper.drain(c.runtime_id)  # its output is shipped before it goes
                await self._keep_output(manager.arn, c.spec.name, c.runtime_id)
                await self.runtime.remove(c.runtime_id)
        for volume in manager.volumes:
            if volume.task_scoped:
                await self.runtime.remove_volume(volume.name)
        if manager.task.get("cpu") or manager.task.get("memory"):
            await self.runtime.remove_task_cgroup(manager.arn)
        await awsvpc.close_sandbox(self.runtime, manager.sandbox_id)

    async def _remove_orphans(self, states: list[ContainerState]) -> None:
        """Containers of tasks the server no longer runs here, then the
        task-scoped volumes of tasks this host no longer runs (an agent killed
        before its clean-up, or a task the server forgot, left them)."""
        for state in states:
            log.warning("removing orphaned container %s of %s", state.runtime_id[:12], state.task_arn)
            if state.running:
                await self.runtime.stop(state.runtime_id, self.stop_timeout)
            name = state.labels.get(LABEL_CONTAINER_NAME)
            if name:
                await self._keep_output(state.task_arn, name, state.runtime_id)
            await self.runtime.remove(state.runtime_id)
        for arn in dict.fromkeys([self.instance_arn, *self._former_arns]):
            for name, task_arn in await self.runtime.list_task_volumes(arn):
                if task_arn not in self.managers:
                    log.warning("removing orphaned volume %s of %s", name, task_arn)
                    await self.runtime.remove_volume(name)

    async def _keep_output(self, task_arn: str, container_name: str, runtime_id: str) -> None:
        """What a container printed outlives it (agent/output_keeper.py)."""
        output = await self.runtime.output_tail(runtime_id, KEEP_BYTES)
        if output:
            await asyncio.to_thread(self.output_keeper.keep, task_arn, container_name, output)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def stop(self) -> None:
        """Stop polling; running containers keep running for the next agent."""
        self._stopping.set()


def _instance_unknown(exc: ServerRefused) -> bool:
    """Whether a refused poll says the server does not know this instance
    (or its cluster) at all, as after a lost or restored database."""
    if exc.code == "ClusterNotFoundException":
        return True
    return exc.code == "InvalidParameterException" and "container instance could not be found" in str(exc)


def checkpoint_path(data_dir: Path) -> Path:
    return data_dir / "agent-state.json"


def registered_instance(data_dir: Path) -> str | None:
    """The container instance an agent with this data dir registered, if any."""
    return _read_json(checkpoint_path(data_dir)).get("containerInstanceArn")


def _host_memory_mib() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a crash leaves the old checkpoint or the new one."""
    write_atomically(path, json.dumps(data))
