"""Test helpers: a real `portside server` process on a free loopback port, and
boto3 clients pointed at it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from portside.agent.agent import registered_instance
from portside.testing.images import TEST_IMAGE, ensure_test_image  # noqa: F401  (tests import TEST_IMAGE from here)

# Docker host claims (portside/agent/host_claim.py) per test session, and per xdist worker:
# concurrent runs on one machine must not refuse each other's agents.
if os.environ.get("PYTEST_XDIST_WORKER") or "PORTSIDE_CLAIMS_DIR" not in os.environ:
    os.environ["PORTSIDE_CLAIMS_DIR"] = tempfile.mkdtemp(prefix="portside-claims-")

REGION = "us-east-1"
ACCOUNT = "123456789012"


def _port_range() -> range:
    """The ports this test process hands out: below the kernel's ephemeral range
    (32768+), which outgoing connections and `bind(0)` draw from, and one block
    per xdist worker.  With `bind(0)` two workers could be handed the same port
    a moment apart; the second server then failed to bind while its health
    check reached the first one, and its test went on talking to another
    test's server."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    block = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 5
    return range(20000 + 2000 * block, 22000 + 2000 * block)


_PORTS = _port_range()
# Start at an offset of this process's own, so two test sessions on one machine (their workers
# share a block) rarely walk the same ports at the same time.
_next_port = os.getpid() % len(_PORTS)


def free_port() -> int:
    """The next port of this process's block that nothing listens on."""
    global _next_port
    for _ in range(len(_PORTS)):
        port = _PORTS[_next_port % len(_PORTS)]
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORTS}")


def in_netns(netns: str | None, cmd: list[str]) -> list[str]:
    """`cmd` run inside network namespace `netns` (`ip netns exec`, which execs
    it: the child's pid is the command's own), or as is when None."""
    return ["ip", "netns", "exec", netns, *cmd] if netns else cmd


class ServerProcess:
    """A `portside server` child process; restartable on the same data dir.
    `netns`/`host`: run inside that network namespace, listening on that
    address (tests/hosts.py's virtual hosts), instead of on loopback here."""

    def __init__(self, data_dir: Path, *extra: str, netns: str | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.extra = extra
        self.netns = netns
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listen = ["--host", self.host] if self.host != "127.0.0.1" else []
        cmd = in_netns(self.netns, [sys.executable, "-m", "portside", "server", "--port", str(self.port),
                                    "--data-dir", str(self.data_dir), *listen, *self.extra])
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.proc = None
        return code

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def client(self, service: str = "ecs", key: tuple[str, str] = ("AKIDPORTSIDETEST", "secret"), **config):
        """A boto3 client signing with `key` (access key id, secret)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=Config(**({"retries": {"max_attempts": 1}, "read_timeout": 60} | config)),
        )


@pytest.fixture
def db_backend() -> str:
    """The `server` fixture's database: SQLite, or PostgreSQL with
    PORTSIDE_TEST_DB=postgres; both, one run each, for the API suite (see
    pytest_generate_tests)."""
    return os.environ.get("PORTSIDE_TEST_DB", "sqlite")


BOTH_BACKENDS_DIRS = ("api",)  # tests/api: the API suite, run on SQLite and on PostgreSQL


def runs_on_both_backends(definition: pytest.Function) -> bool:
    """Whether a test's `server` runs once on SQLite and once on PostgreSQL.

    Issue 16 asks for the same API suite on both backends in CI: every test
    of tests/api that starts a `server` does (those on real Docker too),
    except a module or test marked `sqlite_only("why")` (e.g. `portside
    backup`, which copies SQLite files); plus any test elsewhere marked
    `both_backends`.  PORTSIDE_TEST_DB=postgres runs every `server` test,
    those outside tests/api too, on PostgreSQL only."""
    if definition.get_closest_marker("sqlite_only"):
        return False
    if definition.get_closest_marker("both_backends"):
        return True
    return definition.path.parent.name in BOTH_BACKENDS_DIRS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ("db_backend" in metafunc.fixturenames and "PORTSIDE_TEST_DB" not in os.environ
            and runs_on_both_backends(metafunc.definition)):
        from portside.testing import postgres

        backends = ["sqlite"] if postgres.unavailable() else ["sqlite", "postgres"]
        metafunc.parametrize("db_backend", backends)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest, db_backend: str) -> Iterator[ServerProcess]:
    """A fresh server; a module marked `pytest.mark.server_args(...)` starts it
    with those extra arguments (the service tests tick every 0.2 s).  On
    PostgreSQL its database is a copy of one migrated once per worker
    (`migrated_database`: CREATE DATABASE ... TEMPLATE), not migrated again."""
    marker = request.node.get_closest_marker("server_args")
    extra = tuple(marker.args) if marker else ()
    if db_backend == "postgres":  # the same tests on PostgreSQL
        from portside.testing.postgres import migrated_database

        extra += ("--db", migrated_database())
    proc = ServerProcess(tmp_path / "data", *extra).start()
    yield proc
    if proc.proc is not None:
        proc.stop()


@pytest.fixture
def ecs(server: ServerProcess):
    return server.client()


def postgres_dsn(server: ServerProcess) -> str | None:
    """The server's PostgreSQL database (`--db postgresql://...`), or None on SQLite."""
    args = list(server.extra)
    if "--db" in args and args[args.index("--db") + 1].startswith("postgresql://"):
        return args[args.index("--db") + 1]
    return None


def database_rows(server: ServerProcess, sql: str) -> list[tuple]:
    """The rows a plain SELECT finds in the server's database, on either backend."""
    dsn = postgres_dsn(server)
    if dsn is None:
        import sqlite3

        with sqlite3.connect(server.data_dir / "portside.db") as db:
            return db.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def stored_bytes(server: ServerProcess) -> bytes:
    """What the database holds: SQLite's files (main and WAL) as they are on
    disk; on PostgreSQL every value of every table, bytes as bytes (what a
    copy of the database would give away)."""
    dsn = postgres_dsn(server)
    if dsn is None:
        return b"".join(path.read_bytes() for path in (server.data_dir / "portside.db",
                                                         server.data_dir / "portside.db-wal") if path.exists())
    import psycopg

    found: list[bytes] = []
    with psycopg.connect(dsn) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                found += [v if isinstance(v, bytes) else str(v).encode() for v in row if v is not None]
    return b"\n".join(found)


@pytest.fixture
def default_cluster(server: ServerProcess) -> None:
    """The `default` cluster exists (a module asks with
    `pytestmark = [pytest.mark.usefixtures("default_cluster"), ...]`)."""
    server.client().create_cluster()


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# -- real Docker -----------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the suite needs a real engine: scripts/docker-up starts one
        pytest.fail(f"Docker engine not reachable ({exc}); run scripts/docker-up")
    return client


@pytest.fixture(scope="session")
def test_image(docker_client) -> str:
    """The local test image, built by `docker import` (no registry is reachable)."""
    return ensure_test_image(docker_client)


class AgentProcess:
    """A `portside agent` child process on its own data dir (inside network
    namespace `netns` if given, as ServerProcess)."""

    def __init__(self, server: ServerProcess, data_dir: Path, *extra: str, env: dict[str, str] | None = None,
                 netns: str | None = None) -> None:
        self.server = server
        self.data_dir = data_dir
        self.extra = extra
        self.env = env  # added to this process's environment (e.g. the agent's AWS key)
        self.netns = netns
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "agent.log"

    def start(self) -> AgentProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = in_netns(self.netns, [sys.executable, "-m", "portside", "agent", "--server", self.server.endpoint,
                                    "--data-dir", str(self.data_dir), *self.extra])
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            self.proc = None

    @property
    def instance_arn(self) -> str | None:
        return registered_instance(self.data_dir)

    def wait_registered(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"agent exited: {self.log.read_text()}")
            if self.instance_arn:
                return self.instance_arn
            time.sleep(0.05)
        raise RuntimeError(f"agent did not register: {self.log.read_text()}")


@pytest.fixture
def docker_agent(server, tmp_path, test_image, docker_client):
    """A server with a cluster and one real-Docker agent (stop timeout 2 s)."""
    server.client().create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "docker", "--stop-timeout", "2").start()
    agent.wait_registered()
    yield agent
    agent.stop(signal.SIGKILL)
    remove_containers_of(docker_client, agent.instance_arn)


def remove_containers_of(docker_client, instance_arn: str | None) -> None:
    """Force-remove every container a (killed) agent's instance left."""
    import docker.errors

    # Listed sparse (no inspect per container): one removed meanwhile must not fail the listing.
    for container in docker_client.api.containers(
        all=True, filters={"label": f"com.portside.container-instance-arn={instance_arn}"}
    ):
        try:
            docker_client.api.remove_container(container["Id"], force=True)
        except docker.errors.APIError:  # already removed, or being removed by the agent's clean-up
            pass


def wait_for_task(ecs, arn: str, status: str, timeout: float = 30, cluster: str = "default") -> dict:
    """Describe the task until its lastStatus is `status`."""
    from portside.domain.status import Status

    deadline = time.monotonic() + timeout
    task = {}
    while time.monotonic() < deadline:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        if task["lastStatus"] == status:
            return task
        if Status.of(task["lastStatus"]) > Status.of(status):
            raise AssertionError(f"task went past {status}: {task['lastStatus']} {task.get('stoppedReason')}")
        time.sleep(0.1)
    raise AssertionError(f"task stayed {task.get('lastStatus')} (wanted {status})")


# Tests that share the machine's Docker engine (its images, its containers, its outages) or
# that measure timing run one at a time on one xdist worker (`-n 2 --dist loadgroup`, as
# scripts/test runs the suite); the rest spread over the workers.
SERIAL_FIXTURES = {"docker_client", "docker_agent", "test_image"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("serial") or SERIAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serial: runs on one xdist worker, one at a time (Docker engine, timing)")
    config.addinivalue_line("markers", "server_args(*args): extra arguments for the `server` fixture")
    config.addinivalue_line("markers", "both_backends: run the module's `server` tests on SQLite and PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only(why): the `server` tests of tests/api that cannot run on "
                                       "PostgreSQL, and why")
