"""README's PostgreSQL recipe, followed on loopback: three servers started at
once on one empty database with the same `--credentials` and `--key-file`,
an agent signing with an `agent` key and given all three (`--server A,B,C`);
and `portside up --db postgresql://...` (issue 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, AgentProcess, ServerProcess, free_port, wait_for_task
from helpers import wait_for
from pg_servers import ADMIN, AGENT, health, keys_file, kill, stop_servers, wait_for_one_leader
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))

def _make_key_file(path: Path) -> Path:
    """The README's command for the shared key file, run as written there."""
    subprocess.run(f"umask 077; {sys.executable} -c 'from cryptography.fernet import Fernet; "
                   f"print(Fernet.generate_key().decode())' > {path}", shell=True, check=True)
    return path


def test_three_servers_as_the_readme_recipe_starts_them(tmp_path: Path) -> None:
    dsn = postgres.fresh_database()  # empty: the three servers migrate it at once
    keys = keys_file(tmp_path / "keys.ini")
    key_file = _make_key_file(tmp_path / "portside.key")
    servers = [ServerProcess(tmp_path / f"server{i}", "--host", "127.0.0.1", "--credentials", str(keys),
                             "--key-file", str(key_file), "--db", dsn, "--lease-seconds", "2") for i in range(3)]
    starting = [threading.Thread(target=s.start) for s in servers]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(60)
    agent = None
    try:
        assert all(s.proc is not None for s in servers), "a server did not start"
        wait_for_one_leader(servers)
        assert all(health(s)[1]["database"] == "ok" for s in servers)
        admin = [s.client(key=ADMIN) for s in servers]
        with pytest.raises(ClientError) as refused:  # the agent's key may not administer
            servers[0].client(key=AGENT).list_clusters()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        admin[0].create_cluster(clusterName="default")
        admin[1].register_task_definition(family="web", containerDefinitions=[
            {"name": "web", "image": "nginx", "cpu": 128, "memory": 64}])
        agent = AgentProcess(SimpleNamespace(endpoint=",".join(s.endpoint for s in servers)),  # type: ignore[arg-type]
                             tmp_path / "agent", "--cluster", "default", "--runtime", "fake",
                             env={"AWS_ACCESS_KEY_ID": AGENT[0], "AWS_SECRET_ACCESS_KEY": AGENT[1]}).start()
        agent.wait_registered()
        task = admin[2].run_task(taskDefinition="web")["tasks"][0]
        wait_for_task(admin[1], task["taskArn"], "RUNNING")
        admin[2].create_service(serviceName="svc", taskDefinition="web", desiredCount=3)
        wait_for(lambda: admin[0].describe_services(services=["svc"])["services"][0]["runningCount"] == 3,
                 what="the service's 3 tasks running")
        made = servers[0].client("secretsmanager", key=ADMIN).create_secret(Name="db", SecretString="pw")
        assert servers[2].client("secretsmanager", key=ADMIN).get_secret_value(
            SecretId=made["ARN"])["SecretString"] == "pw"

        kill(servers[0])  # the agent's first server; maybe the leader too
        rest = servers[1:]
        wait_for_one_leader(rest, timeout=10)
        after = admin[1].run_task(taskDefinition="web")["tasks"][0]
        wait_for_task(admin[2], after["taskArn"], "RUNNING", timeout=40)
        admin[2].update_service(service="svc", desiredCount=4)
        wait_for(lambda: admin[1].describe_services(services=["svc"])["services"][0]["runningCount"] == 4,
                 what="the service raised to 4 after the kill")
    finally:
        if agent is not None:
            agent.stop()
        stop_servers(servers)


def test_portside_up_on_postgresql(tmp_path: Path) -> None:
    """`portside up --db postgresql://... --key-file F`: its server keeps
    everything in PostgreSQL (nothing in the data dir but the agent's
    checkpoint), and the next `up` finds it all there."""
    dsn = postgres.fresh_database()
    key_file = tmp_path / "keys" / "portside.key"
    port = free_port()
    data_dir = tmp_path / "data"

    def up() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "portside", "up", "--port", str(port), "--data-dir", str(data_dir),
             "--runtime", "fake", "--db", dsn, "--key-file", str(key_file)],
            stdout=open(tmp_path / "up.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    config = Config(retries={"max_attempts": 1})
    ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                       aws_access_key_id="a", aws_secret_access_key="b", config=config)
    sm = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                      aws_access_key_id="a", aws_secret_access_key="b", config=config)

    def registered() -> bool:
        try:
            return bool(ecs.list_container_instances()["containerInstanceArns"])
        except Exception:
            return False

    first = up()
    try:
        wait_for(registered, timeout=60, what="up's agent registered")
        ecs.register_task_definition(family="web", containerDefinitions=[
            {"name": "web", "image": "nginx", "cpu": 128, "memory": 64}])
        task = ecs.run_task(taskDefinition="web")["tasks"][0]
        wait_for_task(ecs, task["taskArn"], "RUNNING")
        sm.create_secret(Name="kept", SecretString="in postgres")
        assert key_file.exists() and not list(data_dir.rglob("*.db")), "state went to SQLite, not PostgreSQL"
        os.killpg(first.pid, signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        import psycopg

        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1
        second = up()
        try:
            wait_for(registered, timeout=60, what="the next up's agent registered")
            assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
            assert ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["taskArn"] == task["taskArn"]
            assert sm.get_secret_value(SecretId="kept")["SecretString"] == "in postgres"
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
