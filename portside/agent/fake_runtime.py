"""A runtime without Docker: containers "run" through the same agent code.

The command scripts a container: `sleep N` lasts N seconds then exits 0,
`exit N` exits N at once, `sleep N; exit M` chains them, and no command runs
until stopped.  Stopping sends "SIGTERM": the container exits 143 at once,
unless its command contains `ignore-sigterm`, then it is "killed" with 137
after the stop timeout.  Images whose name contains `does-not-exist` cannot be
pulled.  Host ports are handed out from 32768 up.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from .runtime import ContainerSpec, ContainerState, RuntimeFailure, VolumeSpec


@dataclass
class _FakeContainer:
    spec: ContainerSpec
    state: ContainerState
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None


class FakeRuntime:
    def __init__(self, speed: float = 1.0) -> None:
        self._containers: dict[str, _FakeContainer] = {}
        self._ids = itertools.count(1)
        self._ports = itertools.count(32768)
        self._speed = speed  # >1 runs scripted sleeps faster
        self.volumes: set[str] = set()
        self._subnets: dict[str, int] = {}  # awsvpc network -> its number (10.N.x.y)
        self._addresses = itertools.count(2)

    async def describe(self) -> str:
        return "FakeRuntime"

    async def ensure_image(self, image: str, auth: dict[str, str] | None = None) -> None:
        if "does-not-exist" in image:
            raise RuntimeFailure(
                f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                f"{image}: not found"
            )

    async def create(self, spec: ContainerSpec) -> str:
        runtime_id = f"fake-{next(self._ids):012d}"
        self._containers[runtime_id] = _FakeContainer(
            spec, ContainerState(runtime_id, dict(spec.labels), running=False)
        )
        return runtime_id

    async def start(self, runtime_id: str) -> ContainerState:
        c = self._containers[runtime_id]
        c.state.running = True
        c.state.network_bindings = [
            {
                "bindIP": "127.0.0.1",
                "containerPort": p.container_port,
                "hostPort": p.host_port or next(self._ports),
                "protocol": p.protocol,
            }
            for p in c.spec.ports
        ]
        network = c.spec.network_mode
        if network in self._subnets:  # a user-defined network: an address on it
            n = next(self._addresses)
            c.state.networks = {network: (f"10.{self._subnets[network]}.{n // 250}.{n % 250 + 2}",
                                          f"02:42:0a:00:{n // 250:02x}:{n % 250:02x}")}
        c.runner = asyncio.create_task(self._run(c))
        return c.state

    async def _run(self, c: _FakeContainer) -> None:
        for step in _script(c.spec.command):
            verb, _, arg = step.partition(" ")
            if verb == "sleep":
                await asyncio.sleep(float(arg or 0) / self._speed)
            elif verb == "exit":
                self._exit(c, int(arg or 0))
                return
        if c.spec.command:
            self._exit(c, 0)
            return
        await asyncio.Event().wait()  # runs until stopped

    def _exit(self, c: _FakeContainer, code: int) -> None:
        if c.state.running:
            c.state.running = False
            c.state.exit_code = code
            c.exited.set()

    async def stop(self, runtime_id: str, timeout: float) -> None:
        c = self._containers.get(runtime_id)
        if c is None or not c.state.running:
            return
        if "ignore-sigterm" in " ".join(c.spec.command or []):
            await asyncio.sleep(timeout / self._speed)
            code = 137
        else:
            code = 143
        if c.runner:
            c.runner.cancel()
        self._exit(c, code)

    async def wait(self, runtime_id: str) -> ContainerState:
        c = self._containers[runtime_id]
        await c.exited.wait()
        return c.state

    async def inspect(self, runtime_id: str) -> ContainerState | None:
        c = self._containers.get(runtime_id)
        return c.state if c else None

    async def list_managed(self, instance_arn: str) -> list[ContainerState]:
        return [c.state for c in self._containers.values()]

    async def output_tail(self, runtime_id: str, max_bytes: int) -> bytes:
        return b""  # fake containers print nothing

    async def remove(self, runtime_id: str) -> None:
        c = self._containers.pop(runtime_id, None)
        if c and c.runner:
            c.runner.cancel()

    async def ensure_volume(self, volume: VolumeSpec) -> None:
        self.volumes.add(volume.name)

    async def remove_volume(self, name: str) -> None:
        self.volumes.discard(name)

    async def task_cgroup(self, task_arn: str, cpu_units: int | None, memory_mib: int | None) -> str | None:
        return None  # nothing runs: nothing to bound

    async def remove_task_cgroup(self, task_arn: str) -> None:
        return None

    async def list_task_volumes(self, instance_arn: str) -> list[tuple[str, str]]:
        return []  # the fake keeps no labels: its volumes die with the process
    async def ensure_network(self, name: str) -> None:
        self._subnets.setdefault(name, len(self._subnets) + 1)

    async def ensure_pause_image(self) -> str:
        return "fake/pause"

    async def inspect_raw(self, runtime_id: str) -> dict[str, Any] | None:
        c = self._containers.get(runtime_id)
        return {"Id": runtime_id, "Name": "/" + runtime_id, "State": {"Running": c.state.running}} if c else None

    async def stats(self, runtime_id: str) -> dict[str, Any] | None:
        return {"id": runtime_id} if runtime_id in self._containers else None

    async def bridge_gateway(self) -> str | None:
        return "127.0.0.1"

    async def close(self) -> None:
        for c in self._containers.values():
            if c.runner:
                c.runner.cancel()


def _script(command: list[str] | None) -> list[str]:
    """`["sh", "-c", "sleep 1; exit 3"]` or `["sleep", "1"]` → ["sleep 1", "exit 3"]."""
    if not command:
        return []
    text = command[-1] if command[0] in ("sh", "/bin/sh") and len(command) > 2 else " ".join(command)
    return [s.strip() for s in text.split(";") if s.strip()]
