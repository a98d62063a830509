"""Servers sharing one PostgreSQL database share the key that seals secrets
and SecureString parameters (`--key-file`, README's PostgreSQL recipe): a
value written through one server reads back through another; a server
started with a key of its own is refused at start in one line (not left
sealing values the others cannot open, or failing every read)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ServerProcess
from pg_servers import start_servers, stop_servers
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))


def _refusal(dsn: str, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside", "server", "--port", "0", "--data-dir", str(data_dir), "--db", dsn,
         *extra],
        capture_output=True, text=True, timeout=60,
    )


def test_a_secret_written_through_one_server_reads_through_another(tmp_path: Path) -> None:
    dsn = postgres.migrated_database()
    key = tmp_path / "etc" / "portside.key"  # made by the first server (0600), given to both
    servers = start_servers(dsn, tmp_path, 2, "--key-file", str(key))
    try:
        assert key.stat().st_mode & 0o077 == 0
        assert not list(tmp_path.rglob("data*/portside.key")), "a key was made in a data dir instead"
        first, second = servers
        made = first.client("secretsmanager").create_secret(Name="prod/db", SecretString='{"password":"p4ss"}')
        got = second.client("secretsmanager").get_secret_value(SecretId=made["ARN"])
        assert got["SecretString"] == '{"password":"p4ss"}'
        second.client("ssm").put_parameter(Name="/app/token", Value="t0ken", Type="SecureString")
        read = first.client("ssm").get_parameter(Name="/app/token", WithDecryption=True)["Parameter"]
        assert read["Value"] == "t0ken"
        with postgres_connection(dsn) as conn:  # the database holds only ciphertext
            stored = b"".join(bytes(row[0]) for row in conn.execute("SELECT sealed FROM secret_versions"))
            assert stored and b"p4ss" not in stored

        # A third server with its own (default) key: refused, pointing at --key-file.
        done = _refusal(dsn, tmp_path / "third")
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "does not open this database's secrets" in lines[0], done.stderr
        assert "--key-file" in lines[0]
        # The same key file: it joins and reads what the others sealed.
        third = ServerProcess(tmp_path / "third", "--db", dsn, "--key-file", str(key)).start()
        servers.append(third)
        assert third.client("secretsmanager").get_secret_value(SecretId="prod/db")["SecretString"] == \
            '{"password":"p4ss"}'
    finally:
        stop_servers(servers)


def test_a_second_server_with_its_own_key_is_refused_before_any_secret_exists(tmp_path: Path) -> None:
    """Even with nothing sealed yet, a second key never takes over a shared
    database: the first server would go on sealing with the old one."""
    dsn = postgres.migrated_database()
    first = ServerProcess(tmp_path / "first", "--db", dsn).start()  # its key: first/portside.key
    try:
        done = _refusal(dsn, tmp_path / "second")
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not this database's key" in lines[0] and "--key-file" in lines[0], done.stderr
        second = ServerProcess(tmp_path / "second", "--db", dsn, "--key-file",
                               str(tmp_path / "first" / "portside.key")).start()
        try:
            first.client("secretsmanager").create_secret(Name="s", SecretString="v")
            assert second.client("secretsmanager").get_secret_value(SecretId="s")["SecretString"] == "v"
        finally:
            second.stop()
    finally:
        first.stop()


def postgres_connection(dsn: str):
    import psycopg

    return psycopg.connect(dsn)
