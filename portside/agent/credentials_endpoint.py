"""The task role credentials endpoint, served by the agent as the ECS agent
serves it: `GET http://169.254.170.2/v2/credentials/ID` answers
`{"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`, and
every container of a task with a `taskRoleArn` whose keys the server holds gets
`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/ID`, so an AWS SDK
inside finds them with no configuration (SDKs fetch the relative URI from
169.254.170.2, port 80, always).

Where ECS puts an iptables rule on the host (169.254.170.2:80 → the agent),
Portside listens inside each task's own network namespace: the agent adds
169.254.170.2/32 to the namespace's loopback interface (`nsenter … ip addr
add`) and opens a listening socket there from a thread that has entered the
namespace (`setns`); the socket stays in that namespace and is served on the
agent's event loop.  So nothing on the host changes, several agents can share
a host, and a task reaches only its own keys.  Needs root (CAP_SYS_ADMIN and
CAP_NET_ADMIN), as the agent does to run Docker's containers anyway.

The keys come from the server with the task (never written to disk here,
never logged); the ID is an HMAC of the task ARN under the metadata
endpoint's key, so the URI survives an agent restart.

Tasks in `host` network mode share the host's namespace.  ECS serves them
(with `ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST`) through a host-wide iptables
rule that sends 169.254.170.2:80 to its one agent; on a host several agents
(and other programs) may share, Portside does not claim that address.  Their
containers get `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/v2/
credentials/ID` instead, answered by a listener on the host's loopback (the
port kept in the data dir across agent restarts; 51679, where the ECS agent
serves credentials on 127.0.0.1, unless another agent on the host has it):
every AWS SDK's container provider takes a full URI over plain HTTP when its
host is a loopback address, and the ID is unguessable, as on ECS, where any
process on the host can reach that endpoint too.  That listener answers
host-mode tasks' IDs only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import datetime
import hmac
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("portside.agent.credentials")

HOST = "169.254.170.2"
PORT = 80
PATH = "/v2/credentials/"
LOOPBACK = "127.0.0.1"  # where host-mode tasks reach their keys (AWS_CONTAINER_CREDENTIALS_FULL_URI)
ECS_CREDENTIALS_PORT = 51679  # the ECS agent's own credentials port on 127.0.0.1 (reserved: agent.RESERVED_PORTS)
EXPIRES_AFTER_S = 3600.0  # what Expiration says; an SDK fetches again before then
_CLONE_NEWNET = 0x40000000


@dataclass
class TaskCredentials:
    """A task's role and keys, in memory only."""

    role_arn: str
    access_key_id: str
    secret: str = field(repr=False)
    host_network: bool = False  # served on the host's loopback (FULL_URI), not in a namespace of its own

    def document(self, now: float) -> dict[str, str]:
        """As the ECS agent answers (Token empty: these are long-term keys)."""
        expires = datetime.datetime.fromtimestamp(now + EXPIRES_AFTER_S, datetime.UTC)
        return {"RoleArn": self.role_arn, "AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret,
                "Token": "", "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


class CredentialsEndpoint:
    """One listener per network namespace a task's containers run in."""

    def __init__(self, credentials_id: Callable[[str], str], now: Callable[[], float]) -> None:
        self._id = credentials_id
        self._now = now
        self._tasks: dict[str, TaskCredentials] = {}  # task ARN → its role's keys
        self._servers: dict[tuple[str, int], asyncio.base_events.Server] = {}  # (task, netns inode) → listener
        self._entering = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-netns")
        self._warned: set[str] = set()
        self._by_id: dict[str, str] = {}  # credentials ID → host-mode task ARN (the loopback listener's)
        self._host_server: asyncio.base_events.Server | None = None
        self.host_base = ""  # http://127.0.0.1:PORT once the loopback listener is open

    async def start_host(self, port_file: Path) -> None:
        """Open the loopback listener for host-mode tasks: on the port used
        before (adopted containers keep their FULL_URI), else on the ECS
        agent's credentials port, 51679 (which the instance reserves, so no
        task is placed on it), else on any free port (another agent on this
        host has it)."""
        try:
            saved = int(port_file.read_text())
        except (OSError, ValueError):
            saved = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(self._host_task, reader, writer)

        for wanted in dict.fromkeys([saved or ECS_CREDENTIALS_PORT, ECS_CREDENTIALS_PORT, 0]):
            try:
                self._host_server = await asyncio.start_server(handle, LOOPBACK, wanted)
                break
            except OSError:
                if wanted == saved:
                    log.error("port %d of %s is taken: host-mode tasks started before this agent restarted "
                              "cannot reach their role's keys", wanted, LOOPBACK)
                if wanted == 0:
                    raise
        assert self._host_server is not None
        port = self._host_server.sockets[0].getsockname()[1]
        self.host_base = f"http://{LOOPBACK}:{port}"
        try:
            if saved != port:
                port_file.parent.mkdir(parents=True, exist_ok=True)
                port_file.write_text(str(port))
        except OSError as exc:
            log.error("could not save the credentials endpoint's port in %s (%s)", port_file, exc.strerror or exc)

    def _host_task(self, path_id: str) -> str | None:
        return self._by_id.get(path_id)

    def relative_uri(self, task_arn: str) -> str:
        return PATH + self._id(task_arn)

    def environment(self, task: dict[str, Any]) -> dict[str, str]:
        """The variable for a task's containers; remembers the task's keys.
        A role without keys on the server gets none (one warning per role),
        nor a host-mode task when the loopback listener could not open."""
        arn, role = task["taskArn"], task.get("taskRoleArn")
        if not role:
            return {}
        keys = task.get("roleCredentials")
        if not keys:
            self._warn(role, f"the server holds no keys for task role {role}: the containers of its tasks "
                             "start without AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            return {}
        host_network = (task.get("networkMode") or "bridge") == "host"
        if host_network and not self.host_base:
            self._warn(f"host:{role}", f"task role {role}: the loopback credentials listener is not open, "
                                       "tasks in host network mode start without AWS_CONTAINER_CREDENTIALS_FULL_URI")
            return {}
        self._tasks[arn] = TaskCredentials(role, keys["accessKeyId"], keys["secretAccessKey"], host_network)
        if host_network:
            self._by_id[self._id(arn)] = arn
        return self.variables(arn)

    def variables(self, task_arn: str) -> dict[str, str]:
        """The variable for a container of a task `environment` accepted:
        the relative URI (169.254.170.2 in the task's own namespace), or for
        a host-mode task the full URI on the host's loopback."""
        keys = self._tasks.get(task_arn)
        if keys is None:
            return {}
        if keys.host_network:
            return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.host_base + self.relative_uri(task_arn)}
        return {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": self.relative_uri(task_arn)}

    def serves(self, task_arn: str) -> bool:
        return task_arn in self._tasks

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    async def serve_in(self, task_arn: str, pid: int) -> None:
        """Serve the task's keys inside the network namespace of process
        `pid` (a container of the task), once per namespace."""
        if task_arn not in self._tasks or not pid:
            return
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
            if inode == os.stat("/proc/self/ns/net").st_ino:
                return  # the host's own namespace: never
            if (task_arn, inode) in self._servers:
                return
            await _add_address(pid)
            loop = asyncio.get_running_loop()
            sock = await loop.run_in_executor(self._entering, _listen_in, pid)
        except RuntimeError as exc:  # the thread could not come back: never use it again
            self._entering.shutdown(wait=False)
            self._entering = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-netns")
            log.error("task %s: could not serve its role's credentials: %s", task_arn, exc)
            return
        except OSError as exc:
            log.error("task %s: could not serve its role's credentials in its network namespace: %s",
                      task_arn, exc)
            return

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(lambda _id: task_arn, reader, writer)

        self._servers[(task_arn, inode)] = await asyncio.start_server(handle, sock=sock)

    def forget(self, task_arn: str) -> None:
        """The task is over: its keys and listeners go."""
        self._tasks.pop(task_arn, None)
        self._by_id.pop(self._id(task_arn), None)
        for key in [k for k in self._servers if k[0] == task_arn]:
            self._servers.pop(key).close()

    async def _serve(self, task_of: Callable[[str], str | None], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        """One request; `task_of` says which task the listener serves for
        the ID in the path (a namespace's listener: its task, whatever the ID)."""
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 and parts[0] == "GET" else ""
            status, body = self._answer(task_of(path[len(PATH):]) if path.startswith(PATH) else None, path)
        except (TimeoutError, OSError, UnicodeError):
            writer.close()
            return
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Connection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def _answer(self, task_arn: str | None, path: str) -> tuple[int, dict[str, str]]:
        """The ECS agent's answers and error codes (400 for a missing or wrong ID)."""
        if not path.startswith(PATH) or not path[len(PATH):]:
            return 400, {"code": "NoIdInRequest", "message": "CredentialsV2Request: No Credential ID in the request"}
        keys = self._tasks.get(task_arn) if task_arn else None
        if keys is None or task_arn is None or not hmac.compare_digest(path[len(PATH):], self._id(task_arn)):
            return 400, {"code": "InvalidIdInRequest", "message": "CredentialsV2Request: Credentials not found"}
        return 200, keys.document(self._now())

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        if self._host_server is not None:
            self._host_server.close()
        self._entering.shutdown(wait=False)


async def _add_address(pid: int) -> None:
    """169.254.170.2/32 on the namespace's loopback interface (already there: fine)."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter", "-t", str(pid), "-n", "ip", "addr", "add", f"{HOST}/32", "dev", "lo",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate()
    if proc.returncode != 0 and b"File exists" not in err and b"already assigned" not in err:
        raise OSError(f"ip addr add {HOST}/32 dev lo failed: {err.decode(errors='replace').strip()}")


def _listen_in(pid: int) -> socket.socket:
    """A listening socket on HOST:PORT inside the network namespace of
    `pid`, made on this (dedicated) thread, which enters that namespace and
    comes back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network namespace of pid {pid}")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, PORT))
                sock.listen(16)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
        finally:
            if libc.setns(own, _CLONE_NEWNET) != 0:  # never leave this thread elsewhere
                raise RuntimeError("could not return to the agent's network namespace")
        return sock
    finally:
        os.close(own)
        os.close(target)
