"""Several real `portside server` processes on one PostgreSQL database, for the
tests of issue 16 (leadership, placement from two servers, outages, agents
failing over, the crash test)."""

from __future__ import annotations

import inspect
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from conftest import ServerProcess, in_netns
from hosts import Host

LEASE_S = 2.0  # short, so that a handover takes seconds in tests


ADMIN = ("AKIAADMINRECIPE", "admin-secret-recipe")  # the keys of keys_file()
AGENT = ("AKIAHOSTRECIPE", "agent-secret-recipe")


def keys_file(path: Path) -> Path:
    """A `--credentials` file as README's recipe writes it: an admin key and an agent key."""
    path.write_text(f"[admin]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\nrole = admin\n"
                    f"[host]\naws_access_key_id = {AGENT[0]}\naws_secret_access_key = {AGENT[1]}\nrole = agent\n")
    path.chmod(0o600)
    return path


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def health(server: ServerProcess, inside: bool = False) -> tuple[int, dict]:
    """GET /health: (HTTP status, body), or (0, {}) when unreachable.  From
    here, or with `inside`, from within the server's own network namespace
    (to reach it while its link is down: tests/hosts.py), by a Python that
    runs `_get` there."""
    url = server.endpoint + "/health"
    if not inside or server.netns is None:
        return _get(url)
    probe = (f"import json, urllib.error, urllib.request\n{inspect.getsource(_get)}\n"
             f"print(json.dumps(_get({url!r})))")
    done = subprocess.run(in_netns(server.netns, [sys.executable, "-c", probe]), capture_output=True,
                          text=True, timeout=15)
    status, body = json.loads(done.stdout) if done.returncode == 0 else (0, {})
    return status, body


def start_servers(dsn: str, root: Path, count: int, *extra: str, hosts: Sequence[Host] = ()) -> list[ServerProcess]:
    """`count` servers on one database, sharing one key file (`--key-file`, as
    servers sharing a database must: another key is refused at start) unless
    `extra` names one.  `hosts`: server i runs on hosts[i] (its namespace and
    address; listening off loopback needs `--credentials` in `extra`)."""
    if "--key-file" not in extra:
        extra = ("--key-file", str(root / "portside.key"), *extra)
    servers: list[ServerProcess] = []
    try:
        for i in range(count):
            place = {"netns": hosts[i].namespace, "host": hosts[i].address} if hosts else {}
            servers.append(ServerProcess(root / f"server{i}", "--db", dsn, "--lease-seconds", str(LEASE_S),
                                         "--service-interval", "0.2", *extra, **place).start())
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

