"""Several real `portside server` processes on one PostgreSQL database, for the
tests of issue 16 (leadership, placement from two servers, outages, agents
failing over, the crash test)."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ServerProcess

LEASE_S = 2.0  # short, so that a handover takes seconds in tests


def health(server: ServerProcess) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.endpoint + "/health", timeout=3) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def start_servers(dsn: str, root: Path, count: int, *extra: str) -> list[ServerProcess]:
    """`count` servers on one database, sharing one key file (`--key-file`, as
    servers sharing a database must: another key is refused at start) unless
    `extra` names one."""
    if "--key-file" not in extra:
        extra = ("--key-file", str(root / "portside.key"), *extra)
    servers: list[ServerProcess] = []
    try:
        for i in range(count):
            servers.append(ServerProcess(root / f"server{i}", "--db", dsn, "--lease-seconds", str(LEASE_S),
                                         "--service-interval", "0.2", *extra).start())
    except BaseException:  # one refused to start: the test never gets the others to stop
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: list[ServerProcess]) -> None:
    for server in servers:
        if server.proc is not None:
            try:
                server.stop()
            except Exception:
                server.proc.kill()
                server.proc.wait()
                server.proc = None


def leaders(servers: list[ServerProcess]) -> list[ServerProcess]:
    return [s for s in servers if s.proc is not None and health(s)[1].get("role") == "leader"]


def wait_for_one_leader(servers: list[ServerProcess], timeout: float = 15.0) -> ServerProcess:
    """The one leader, once exactly one of the running servers says it leads."""
    deadline = time.monotonic() + timeout
    found: list[ServerProcess] = []
    while time.monotonic() < deadline:
        found = leaders(servers)
        if len(found) == 1:
            return found[0]
        assert len(found) <= 1, f"{len(found)} leaders at once"
        time.sleep(0.05)
    raise AssertionError(f"no single leader within {timeout} s ({len(found)} found)")


def kill(server: ServerProcess) -> None:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    server.proc = None
