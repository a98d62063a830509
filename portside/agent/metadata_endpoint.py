"""The task metadata endpoint (version 4), served by the agent.

Every container gets `ECS_CONTAINER_METADATA_URI_V4` (and
`ECS_CONTAINER_METADATA_URI`): `http://GATEWAY:PORT/v4/TOKEN`, where GATEWAY
is the Docker bridge's address on this host (reachable from bridge, host and
user-defined-bridge containers) and TOKEN an HMAC of the task ARN and
container name under a key kept in the agent's data dir, so the URI survives
an agent restart and cannot be guessed by another container.  Paths, as AWS
documents them: `${URI}` (the container), `${URI}/task` (the task and its
containers), `${URI}/stats` and `${URI}/task/stats` (Docker stats).  Plain
HTTP/1.0-style GETs on asyncio streams: no web framework for four routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.status import Status
from .files import write_atomically

if TYPE_CHECKING:
    from .agent import Agent
    from .task_manager import ManagedContainer, TaskManager

log = logging.getLogger("portside.agent.metadata")


class MetadataEndpoint:
    def __init__(self, agent: Agent, data_dir: Path) -> None:
        self.agent = agent
        self._data_dir = data_dir
        self._key = b""  # read or made at start(), beside the agent's checkpoint
        self._port_file = data_dir / "metadata-port"
        self._server: asyncio.base_events.Server | None = None
        self.base = ""
        self._port = 0
        self.unsaved = False  # the key or port could not be written (a full or read-only data dir)

    async def start(self, host: str) -> None:
        """Listen on `host`, on the port used before if it is free (containers
        adopted after a restart keep the URI they were given)."""
        self._key = _read_key(self._data_dir / "metadata-key") or secrets.token_bytes(32)
        try:
            wanted = int(self._port_file.read_text())
        except (OSError, ValueError):
            wanted = 0
        try:
            self._server = await asyncio.start_server(self._handle, host, wanted)
        except OSError:
            self._server = await asyncio.start_server(self._handle, host, 0)
        self._port = self._server.sockets[0].getsockname()[1]
        self.base = f"http://{host}:{self._port}"
        self.save()

    def save(self) -> bool:
        """Keep the key and the port beside the checkpoint, so containers keep
        their URI across an agent restart.  A full or read-only data dir must
        not stop the agent (its containers run on): logged once, tried again
        with the checkpoint."""
        try:
            _write_key(self._data_dir / "metadata-key", self._key)
            if not self._port_file.exists() or self._port_file.read_text() != str(self._port):
                self._port_file.write_text(str(self._port))
        except OSError as exc:
            if not self.unsaved:
                log.error("could not save the task metadata endpoint's key and port in %s (%s); "
                          "containers started now get a new URI if the agent restarts before they are saved",
                          self._data_dir, exc.strerror or exc)
            self.unsaved = True
            return False
        if self.unsaved:
            log.warning("saved the task metadata endpoint's key and port in %s", self._data_dir)
        self.unsaved = False
        return True

    def token(self, task_arn: str, container: str) -> str:
        return hmac.new(self._key, f"{task_arn}/{container}".encode(), hashlib.sha256).hexdigest()[:32]

    def credentials_id(self, task_arn: str) -> str:
        """The task's credentials ID (agent/credentials_endpoint.py), as a UUID is written."""
        h = hmac.new(self._key, f"credentials/{task_arn}".encode(), hashlib.sha256).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def environment(self, task_arn: str, container: str) -> dict[str, str]:
        if not self.base:
            return {}
        token = self.token(task_arn, container)
        return {"ECS_CONTAINER_METADATA_URI_V4": f"{self.base}/v4/{token}",
                "ECS_CONTAINER_METADATA_URI": f"{self.base}/v3/{token}"}

    def _find(self, token: str) -> tuple[TaskManager, ManagedContainer] | None:
        if not self._key:
            return None
        for manager in list(self.agent.managers.values()):
            for c in manager.containers.values():
                if hmac.compare_digest(self.token(manager.arn, c.spec.name), token):
                    return manager, c
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            status, body = await self._answer(parts[1] if len(parts) > 1 and parts[0] == "GET" else "")
        except Exception:  # a broken request must not end the agent
            log.exception("metadata request failed")
            status, body = 500, {"error": "internal error"}
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Connection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _answer(self, path: str) -> tuple[int, Any]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) < 2 or parts[0] not in ("v3", "v4"):
            return 404, {"error": "not found"}
        found = self._find(parts[1])
        if found is None:
            return 404, {"error": "unknown container"}
        manager, container = found
        rest = parts[2:]
        if rest == []:
            return 200, await self._container(manager, container)
        if rest == ["task"]:
            return 200, await self._task(manager)
        if rest == ["stats"]:
            return 200, await self._stats(container)
        if rest == ["task", "stats"]:
            return 200, {c.runtime_id: await self._stats(c) for c in manager.containers.values()
                         if c.runtime_id}
        return 404, {"error": "not found"}

    async def _stats(self, c: ManagedContainer) -> Any:
        if not c.runtime_id or c.status != Status.RUNNING:
            return None
        return await self.agent.runtime.stats(c.runtime_id)

    async def _container(self, manager: TaskManager, c: ManagedContainer) -> dict[str, Any]:
        """A container as the v4 endpoint describes it."""
        attrs = (await self.agent.runtime.inspect_raw(c.runtime_id)) if c.runtime_id else None
        attrs = attrs or {}
        state = attrs.get("State") or {}
        shown: dict[str, Any] = {
            "DockerId": c.runtime_id or "",
            "Name": c.spec.name,
            "DockerName": (attrs.get("Name") or "").lstrip("/"),
            "Image": c.spec.image,
            "ImageID": attrs.get("Image", ""),
            "Labels": c.spec.labels,
            "DesiredStatus": "RUNNING" if manager.desired == Status.RUNNING else "STOPPED",
            "KnownStatus": c.status.name,
            "Limits": {"CPU": c.spec.cpu_shares or 0, "Memory": c.spec.memory_mib or 0},
            "Type": "NORMAL",
            "Networks": _networks(await self._network_attrs(manager, attrs), manager.network_mode),
        }
        arn = c.container_arn
        if arn:
            shown["ContainerARN"] = arn
        for key, value in (("CreatedAt", attrs.get("Created")), ("StartedAt", state.get("StartedAt"))):
            if value and not str(value).startswith("0001-"):
                shown[key] = value
        if c.exit_code is not None:
            shown["ExitCode"] = c.exit_code
        if c.restart_policy is not None:
            shown["RestartCount"] = c.restart_count
        if c.spec.health_check:
            shown["Health"] = {"status": c.health}
        return shown

    async def _network_attrs(self, manager: TaskManager, attrs: dict[str, Any]) -> dict[str, Any]:
        """Where a container's network shows: an awsvpc task's containers join
        its pause container's namespace, whose address is the task's ENI's."""
        if manager.network_mode == "awsvpc" and manager.sandbox_id:
            return await self.agent.runtime.inspect_raw(manager.sandbox_id) or attrs
        return attrs

    async def _task(self, manager: TaskManager) -> dict[str, Any]:
        task = manager.task
        shown: dict[str, Any] = {
            "Cluster": task.get("clusterArn") or self.agent.cluster,
            "TaskARN": manager.arn,
            "Family": task.get("family"),
            "Revision": str(task.get("revision")),
            "DesiredStatus": manager.desired.name,
            "KnownStatus": manager.known_status(),
            "Containers": [await self._container(manager, c) for c in manager.containers.values()],
            "LaunchType": "EC2",
            "AvailabilityZone": self.agent.config.availability_zone,
        }
        limits = {k: float(task[k.lower()]) for k in ("CPU", "Memory") if task.get(k.lower())}
        if limits:
            shown["Limits"] = {"CPU": limits.get("CPU", 0) / 1024, "Memory": limits.get("Memory", 0)} \
                if "CPU" in limits else {"Memory": limits["Memory"]}
        for key, value in manager.pull_times().items():
            shown["PullStartedAt" if key == "pullStartedAt" else "PullStoppedAt"] = _iso(value)
        return shown

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


def _networks(attrs: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """The v4 `Networks` list; for awsvpc with the ENI's members AWS shows
    (AttachmentIndex, MACAddress, IPv4SubnetCIDRBlock, SubnetGatewayIpv4Address)."""
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    result = []
    for net in nets.values():
        entry: dict[str, Any] = {"NetworkMode": mode}
        if net.get("IPAddress"):
            entry["IPv4Addresses"] = [net["IPAddress"]]
        if mode == "awsvpc" and net.get("IPAddress"):
            entry["AttachmentIndex"] = 0
            entry["MACAddress"] = net.get("MacAddress", "")
            try:
                subnet = ipaddress.ip_network(f"{net['IPAddress']}/{net.get('IPPrefixLen') or 32}", strict=False)
                entry["IPv4SubnetCIDRBlock"] = str(subnet)
                if net.get("Gateway"):
                    entry["SubnetGatewayIpv4Address"] = f"{net['Gateway']}/{subnet.prefixlen}"
            except ValueError:
                pass
        result.append(entry)
    return result or [{"NetworkMode": mode}]


def _iso(epoch: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")


def _read_key(path: Path) -> bytes | None:
    """The agent's token key as saved before, if it was."""
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return key or None


def _write_key(path: Path, key: bytes) -> None:
    """Kept 0600 beside the checkpoint (written once: a restart reads it back)."""
    if _read_key(path) == key:
        return
    write_atomically(path, key.hex(), mode=0o600)
