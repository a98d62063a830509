"""The Docker runtime, through the Docker SDK for Python.

The SDK is blocking, so every call runs in a thread pool of its own; waits for
container exits hold a thread each, hence a generous pool.  `docker stop`
semantics (SIGTERM, SIGKILL after the timeout) come from Docker itself.

The engine can go away (restarted, its socket gone): every call that cannot
reach it raises `EngineUnreachable`.  Waiting for a container's exit and
stopping one outlive an outage: they retry with backoff until the engine
answers again, then inspect the container afresh, so an exit that happened
meanwhile is seen and reported.  The outage and the recovery are logged once
each.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import ipaddress
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig
from docker.types import Mount as DockerMount
from docker.types import Ulimit as DockerUlimit

from . import task_cgroup
from .metrics import DOCKER_CALL_SECONDS
from .pause import PAUSE_IMAGE, PAUSE_IMAGE_CHANGES, pause_rootfs
from .runtime import LABEL_INSTANCE, LABEL_TASK_ARN, ContainerSpec, ContainerState, RuntimeFailure, VolumeSpec

LABEL_NETWORK = "com.portside.network"

T = TypeVar("T")


log = logging.getLogger("portside.agent.docker")

# What the SDK raises when the engine's socket refuses, resets or cuts an answer short.
_UNREACHABLE = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError)


class DockerUnavailable(Exception):
    pass


class EngineUnreachable(DockerException):
    """The engine did not answer (connection refused, reset, socket gone)."""


class DockerRuntime:
    def __init__(self, base_url: str | None = None, pool_size: int = 256) -> None:
        try:
            self._client = (
                docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            )
            self._client.ping()
        except DockerException as exc:
            raise DockerUnavailable(str(exc)) from exc
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="docker")
        self._present: set[str] = set()  # images known to be local
        self._lost_at: float | None = None  # when the engine stopped answering
        self._networks: set[str] = set()  # awsvpc networks known to exist
        self._cgroup_driver: str | None = None  # Docker's, asked once

    @property
    def docker_client(self) -> docker.DockerClient:
        """The Docker SDK client, for `docker exec` (agent/exec_channel.py)."""
        return self._client

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        name = getattr(fn, "__name__", "call")
        started = time.perf_counter()
        try:
            result = await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except _UNREACHABLE as exc:
            if self._lost_at is None:
                self._lost_at = time.monotonic()
                log.error("the Docker engine is unreachable (%s); retrying until it answers", exc)
            raise EngineUnreachable(f"the Docker engine is unreachable: {exc}") from exc
        finally:
            if name != "wait":  # `wait` lasts as long as the container: not a latency
                DOCKER_CALL_SECONDS.labels(name).observe(time.perf_counter() - started)
        if self._lost_at is not None:
            log.warning("the Docker engine answers again after %.1f s; re-inspecting containers",
                        time.monotonic() - self._lost_at)
            self._lost_at = None
        return result

    def engine_id(self) -> str:
        """The engine's own ID (`docker info`): one per Docker host, however it is reached."""
        return str(self._client.info().get("ID") or self._client.api.base_url)

    async def _through_outage(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`await fn(*args)`, retried with backoff while the engine is unreachable."""
        delay = 0.2
        while True:
            try:
                return await fn(*args)
            except EngineUnreachable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def describe(self) -> str:
        version = await self._call(self._client.version)
        return f"DockerVersion: {version.get('Version', 'unknown')}"

    async def ensure_image(self, image: str, auth: dict[str, str] | None = None) -> None:
        """`auth`: registry credentials (repositoryCredentials), never logged."""
        if image in self._present:
            return
        try:
            await self._call(self._client.images.get, image)
            self._present.add(image)
            return
        except ImageNotFound:
            pass
        except DockerException as exc:
            raise RuntimeFailure(f"CannotPullContainerError: {exc}") from exc
        try:
            await self._call(self._client.images.pull, image, auth_config=auth)
        except DockerException as exc:
            raise RuntimeFailure(f"CannotPullContainerError: {_explain(exc)}") from exc
        self._present.add(image)

    async def create(self, spec: ContainerSpec) -> str:
        """One `POST /containers/create` (the SDK's low-level call: its
        high-level one inspects the container again before returning)."""
        api = self._client.api
        host: dict[str, Any] = {"network_mode": spec.network_mode}
        if spec.cpu_shares:
            host["cpu_shares"] = max(2, spec.cpu_shares)  # Docker's minimum
        if spec.memory_mib:
            host["mem_limit"] = spec.memory_mib * 1024 * 1024
        if spec.memory_reservation_mib:
            host["mem_reservation"] = spec.memory_reservation_mib * 1024 * 1024
        ports: list[tuple[int, str]] = []
        if spec.ports and spec.network_mode == "bridge":
            host["port_bindings"] = {f"{p.container_port}/{p.protocol}": p.host_port for p in spec.ports}
            ports = [(p.container_port, p.protocol) for p in spec.ports]
        if spec.mounts:
            host["mounts"] = [
                DockerMount(
                    target=m.target,
                    source=m.source,
                    type="volume" if m.named_volume else "bind",
                    read_only=m.read_only,
                )
                for m in spec.mounts
            ]
        if spec.cgroup_parent:
            host["cgroup_parent"] = spec.cgroup_parent
        host.update(_host_options(spec))
        kwargs: dict[str, Any] = {
            "image": spec.image,
            "labels": spec.labels,
            "environment": spec.environment,
            "host_config": api.create_host_config(**host),
            "ports": ports or None,
        }
        if spec.command is not None:
            kwargs["command"] = spec.command
        if spec.entry_point is not None:
            kwargs["entrypoint"] = spec.entry_point
        if spec.working_dir:
            kwargs["working_dir"] = spec.working_dir
        if spec.user:
            kwargs["user"] = spec.user
        if spec.hostname:
            kwargs["hostname"] = spec.hostname
        if spec.network_disabled:
            kwargs["network_disabled"] = True
        if spec.stdin_open:
            kwargs["stdin_open"] = True
        if spec.tty:
            kwargs["tty"] = True
        if spec.health_check:
            check = spec.health_check
            kwargs["healthcheck"] = {
                "test": check.test, "interval": _ns(check.interval), "timeout": _ns(check.timeout),
                "retries": check.retries, "start_period": _ns(check.start_period),
            }
        try:
            created = await self._call(api.create_container, **kwargs)
        except DockerException as exc:
            raise RuntimeFailure(f"CannotCreateContainerError: {_explain(exc)}") from exc
        return created["Id"]

    async def start(self, runtime_id: str) -> ContainerState:
        try:
            await self._call(self._client.api.start, runtime_id)
        except DockerException as exc:
            raise RuntimeFailure(f"CannotStartContainerError: {_explain(exc)}") from exc
        state = await self.inspect(runtime_id)  # for the host ports Docker chose
        if state is None:
            raise RuntimeFailure("CannotStartContainerError: container vanished")
        return state

    async def stop(self, runtime_id: str, timeout: float) -> None:
        await self._through_outage(self._stop, runtime_id, timeout)

    async def _stop(self, runtime_id: str, timeout: float) -> None:
        try:
            await self._call(self._client.api.stop, runtime_id, timeout=int(round(timeout)))
        except NotFound:
            pass

    async def wait(self, runtime_id: str) -> ContainerState:
        """The container's state once it has exited; an engine outage on the
        way is waited out, then the container inspected afresh."""
        await self._through_outage(self._wait, runtime_id)
        state = await self._through_outage(self.inspect, runtime_id)
        return state or ContainerState(runtime_id, {}, running=False, exit_code=None)

    async def _wait(self, runtime_id: str) -> None:
        try:
            await self._call(self._client.api.wait, runtime_id)
        except NotFound:
            pass

    async def inspect(self, runtime_id: str) -> ContainerState | None:
        try:
            attrs = await self._call(self._client.api.inspect_container, runtime_id)
        except NotFound:
            return None
        return _state(attrs)

    async def list_managed(self, instance_arn: str) -> list[ContainerState]:
        summaries = await self._call(
            self._client.api.containers, all=True, filters={"label": f"{LABEL_INSTANCE}={instance_arn}"}
        )
        states = []
        for summary in summaries:
            state = await self.inspect(summary["Id"])
            if state is not None:
                states.append(state)
        return states

    async def output_tail(self, runtime_id: str, max_bytes: int) -> bytes:
        """Docker's `tail` counts lines, so ask for more lines until the answer
        holds `max_bytes` or all the output (a chatty container's whole log is
        never read at once)."""
        lines = 4096
        while True:
            try:
                data = await self._call(self._client.api.logs, runtime_id, stdout=True, stderr=True, tail=lines)
            except DockerException:  # gone, or a log driver Docker cannot read back
                return b""
            if len(data) >= max_bytes or data.count(b"\n") < lines or lines >= 1 << 22:
                return bytes(data)
            lines *= 4

    async def remove(self, runtime_id: str) -> None:
        try:
            await self._call(self._client.api.remove_container, runtime_id, force=True, v=False)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: a removal is already under way
                raise

    async def ensure_volume(self, volume: VolumeSpec) -> None:
        api = self._client.api
        try:
            await self._call(api.inspect_volume, volume.name)
            return
        except NotFound:
            pass
        except DockerException as exc:
            raise RuntimeFailure(f"CannotCreateVolumeError: {_explain(exc)}") from exc
        if not volume.autoprovision:
            raise RuntimeFailure(
                f"CannotCreateVolumeError: shared volume {volume.name} does not exist "
                "and autoprovision is false"
            )
        try:
            await self._call(api.create_volume, volume.name, driver=volume.driver,
                             driver_opts=volume.driver_opts or None, labels=volume.labels or None)
        except DockerException as exc:
            raise RuntimeFailure(f"CannotCreateVolumeError: {_explain(exc)}") from exc

    async def remove_volume(self, name: str) -> None:
        try:
            await self._call(self._client.api.remove_volume, name, force=True)
        except NotFound:
            pass
        except APIError as exc:  # still in use (a container not yet gone): leave it
            if exc.status_code != 409:
                raise

    async def task_cgroup(self, task_arn: str, cpu_units: int | None, memory_mib: int | None) -> str | None:
        """The task's cgroup under Docker's cgroupfs driver (agent/task_cgroup.py)."""
        if self._cgroup_driver is None:
            info = await self._call(self._client.info)
            self._cgroup_driver = str(info.get("CgroupDriver") or "cgroupfs")
        if self._cgroup_driver != "cgroupfs":
            raise RuntimeFailure(f"CannotCreateContainerError: task-level cpu and memory need Docker's "
                                 f"cgroupfs cgroup driver; this engine uses {self._cgroup_driver}")
        parent = task_cgroup.parent_name(task_arn)
        try:
            await asyncio.to_thread(task_cgroup.create, parent, cpu_units, memory_mib)
        except OSError as exc:
            raise RuntimeFailure(f"CannotCreateContainerError: the task's cgroup {parent}: "
                                 f"{exc.strerror or exc}") from exc
        return parent

    async def remove_task_cgroup(self, task_arn: str) -> None:
        await asyncio.to_thread(task_cgroup.remove, task_cgroup.parent_name(task_arn))

    async def list_task_volumes(self, instance_arn: str) -> list[tuple[str, str]]:
        found = await self._call(self._client.api.volumes, filters={"label": f"{LABEL_INSTANCE}={instance_arn}"})
        volumes = (found or {}).get("Volumes") or []
        return [(v["Name"], (v.get("Labels") or {}).get(LABEL_TASK_ARN, "")) for v in volumes]

    async def ensure_network(self, name: str) -> None:
        if name in self._networks:
            return
        try:
            found = await self._call(self._client.api.networks, names=[name])
            if not any(n.get("Name") == name for n in found):
                await self._call(self._client.api.create_network, name, driver="bridge",
                                 check_duplicate=True, labels={LABEL_NETWORK: "awsvpc"})
        except APIError as exc:
            if exc.status_code != 409:  # 409: another task made it meanwhile
                raise RuntimeFailure(f"CannotCreateNetworkError: {_explain(exc)}") from exc
        except DockerException as exc:
            raise RuntimeFailure(f"CannotCreateNetworkError: {_explain(exc)}") from exc
        self._networks.add(name)

    async def ensure_pause_image(self) -> str:
        if PAUSE_IMAGE in self._present:
            return PAUSE_IMAGE
        try:
            try:
                await self._call(self._client.images.get, PAUSE_IMAGE)
            except ImageNotFound:
                repository, tag = PAUSE_IMAGE.split(":")
                await self._call(self._client.api.import_image_from_data, pause_rootfs(),
                                 repository=repository, tag=tag, changes=PAUSE_IMAGE_CHANGES)
        except (DockerException, OSError) as exc:
            raise RuntimeFailure(f"CannotPullContainerError: {PAUSE_IMAGE}: {exc}") from exc
        self._present.add(PAUSE_IMAGE)
        return PAUSE_IMAGE

    async def inspect_raw(self, runtime_id: str) -> dict[str, Any] | None:
        try:
            return await self._call(self._client.api.inspect_container, runtime_id)
        except NotFound:
            return None

    async def stats(self, runtime_id: str) -> dict[str, Any] | None:
        try:
            return await self._call(self._client.api.stats, runtime_id, stream=False)
        except NotFound:
            return None

    async def bridge_gateway(self) -> str | None:
        try:
            bridge = await self._call(self._client.api.inspect_network, "bridge")
            config = bridge["IPAM"]["Config"][0]
            if config.get("Gateway"):
                return str(config["Gateway"])
            return str(ipaddress.ip_network(config["Subnet"])[1])  # Docker's default: the first address
        except (DockerException, KeyError, IndexError, ValueError):
            return None

    async def close(self) -> None:
        self._client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _host_options(spec: ContainerSpec) -> dict[str, Any]:
    """The HostConfig options of the container-definition members set."""
    host: dict[str, Any] = {}
    if spec.privileged:
        host["privileged"] = True
    if spec.read_only:
        host["read_only"] = True
    for key, value in (("dns", spec.dns), ("dns_search", spec.dns_search),
                       ("extra_hosts", spec.extra_hosts), ("security_opt", spec.security_opt),
                       ("sysctls", spec.sysctls), ("cap_add", spec.cap_add),
                       ("cap_drop", spec.cap_drop), ("devices", spec.devices),
                       ("tmpfs", spec.tmpfs), ("volumes_from", spec.volumes_from_ids)):
        if value:
            host[key] = value
    if spec.ulimits:
        host["ulimits"] = [DockerUlimit(name=u.name, soft=u.soft, hard=u.hard) for u in spec.ulimits]
    if spec.init:
        host["init"] = True
    if spec.shm_size_mib:
        host["shm_size"] = spec.shm_size_mib * 1024 * 1024
    if spec.max_swap_mib is not None and spec.memory_mib:
        host["memswap_limit"] = (spec.memory_mib + spec.max_swap_mib) * 1024 * 1024
        if spec.swappiness is not None:
            host["mem_swappiness"] = spec.swappiness
    if spec.pid_mode:
        host["pid_mode"] = spec.pid_mode
    if spec.ipc_mode:
        host["ipc_mode"] = spec.ipc_mode
    if spec.log_driver:
        host["log_config"] = LogConfig(type=spec.log_driver, config=spec.log_options)
    return host


def _state(attrs: dict[str, Any]) -> ContainerState:
    status = attrs["State"]
    bindings = []
    for key, hosts in (attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
        port, _, protocol = key.partition("/")
        for host in hosts or []:
            bindings.append(
                {
                    "bindIP": host.get("HostIp") or "0.0.0.0",
                    "containerPort": int(port),
                    "hostPort": int(host["HostPort"]),
                    "protocol": protocol or "tcp",
                }
            )
    networks = {
        name: (settings.get("IPAddress") or "", settings.get("MacAddress") or "")
        for name, settings in (attrs.get("NetworkSettings", {}).get("Networks") or {}).items()
    }
    running = bool(status.get("Running"))
    never_started = str(status.get("StartedAt", "")).startswith("0001-")
    return ContainerState(
        runtime_id=attrs["Id"],
        labels=attrs.get("Config", {}).get("Labels") or {},
        running=running,
        exit_code=None if running or never_started else status.get("ExitCode"),
        oom_killed=bool(status.get("OOMKilled")),
        network_bindings=bindings,
        health=(status.get("Health") or {}).get("Status"),
        networks=networks,
        started_at=_epoch(status.get("StartedAt")),
        finished_at=None if running else _epoch(status.get("FinishedAt")),
    )


def _epoch(stamp: object) -> float | None:
    """Docker's RFC 3339 time with nanoseconds as epoch seconds (None for its zero time)."""
    text = str(stamp or "")
    if not text or text.startswith("0001-"):
        return None
    whole, _, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())
    try:
        moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def _explain(exc: DockerException) -> str:
    if isinstance(exc, APIError):
        return str(exc.explanation or exc)
    return str(exc)
