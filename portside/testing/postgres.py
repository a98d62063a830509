"""A throwaway PostgreSQL server for tests and benches: Debian's binaries, `initdb` + `pg_ctl` in
a temp dir, listening on a loopback port (or on the one address asked for), gone when the
context exits.

PostgreSQL refuses to run as root, so when we are root the cluster is owned and run by the
`postgres` system user the Debian package creates (through `runuser`)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (scripts/postgres-up installs them)."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed (run scripts/postgres-up)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running throwaway cluster; `dsn` names its `portside` database."""

    def __init__(self, root: Path, port: int, as_user: list[str], host: str = "127.0.0.1") -> None:
        self.root = root
        self.port = port
        self.host = host
        self._as_user = as_user
        self.dsn = f"postgresql://portside@{host}:{port}/portside"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def start(self) -> None:
        self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self.root / "data"), "-w",
                  "-l", str(self.root / "server.log"), "start")


@contextmanager
def postgres_server(listen: str = "127.0.0.1", allow: str | None = None) -> Iterator[PostgresServer]:
    """Start a cluster with a `portside` superuser and database (trust auth on loopback).

    `listen`: the one address it listens on (e.g. a test network's gateway,
    tests/hosts.py); `allow`: a subnet (CIDR) also let in with trust auth,
    for clients on that network (pg_hba.conf lets in loopback only)."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="portside-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    server = PostgresServer(root, port, as_user, listen)
    try:
        server._run(str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "portside",
                    "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(root / "data" / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '{listen}'\nport = {port}\n"
                       f"unix_socket_directories = '{root}'\nmax_connections = 200\n")
        if allow:
            with open(root / "data" / "pg_hba.conf", "a") as hba:
                hba.write(f"\nhost all all {allow} trust\n")
        server.start()
        server._run(str(bin_dir / "createdb"), "-h", listen, "-p", str(port), "-U", "portside",
                    "portside")
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


class _Shared:
    """One throwaway cluster per process, started on first use and stopped at exit."""

    server: PostgresServer | None = None
    template: str | None = None  # a database migrated to the current schema, copied by `migrated_database`


def _cluster() -> PostgresServer:
    import atexit

    if _Shared.server is None:
        context = postgres_server()
        _Shared.server = context.__enter__()
        atexit.register(context.__exit__, None, None, None)
    return _Shared.server


def _create(template: str | None = None) -> str:
    import uuid

    import psycopg

    dsn = _cluster().dsn
    name = f"t{uuid.uuid4().hex}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return dsn.rsplit("/", 1)[0] + "/" + name


def fresh_database() -> str:
    """The DSN of a new, empty database on this process's shared throwaway cluster
    (each test gets its own: CREATE DATABASE is quicker than a cluster)."""
    return _create()


def migrated_database() -> str:
    """The DSN of a new database on the shared cluster that already has the
    current schema: a copy (`CREATE DATABASE ... TEMPLATE`) of one database
    migrated once per process, so that a test's server does not run every
    migration step again (the API suite on PostgreSQL starts a server per
    test).  Migrating from empty is tested on `fresh_database()`s."""
    if _Shared.template is None:
        from portside.store.postgres.migrations import migrate
        from portside.store.postgres.pool import connect

        dsn = _create()
        with connect(dsn) as conn:  # closed before it is copied: a template must have no sessions
            migrate(conn, "template")
        _Shared.template = dsn.rsplit("/", 1)[-1]
    return _create(_Shared.template)


def key_file(dsn: str) -> Path:
    """A sealing key file for the database a DSN names (store/sealing.py), the
    same one each time that database is opened, kept with the throwaway cluster."""
    root = _Shared.server.root if _Shared.server is not None else Path(tempfile.gettempdir())
    return root / "keys" / (dsn.rsplit("/", 1)[-1] + ".key")


def unavailable() -> str | None:
    """Why no throwaway PostgreSQL can run here, or None."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed"
    try:
        _bin_dir()
    except PostgresUnavailable as exc:
        return str(exc)
    return None
