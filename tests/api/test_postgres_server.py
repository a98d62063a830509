"""A real `portside server --db postgresql://...` on a throwaway PostgreSQL
cluster, driven through boto3: clusters, task definitions, RunTask on a
fake-runtime agent, a service, and a server restart that finds it all in the
database (the data dir holds nothing of the state).  The rest of the API
suite runs on PostgreSQL with PORTSIDE_TEST_DB=postgres (see tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import AgentProcess, ServerProcess, free_port, wait_for_task
from helpers import register_task_definition, wait_for
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))


@pytest.fixture
def pg_server(tmp_path: Path):
    proc = ServerProcess(tmp_path / "data", "--db", postgres.fresh_database(), "--service-interval", "0.2").start()
    yield proc
    if proc.proc is not None:
        proc.stop()


def test_tasks_and_services_on_postgresql_survive_a_restart(pg_server: ServerProcess, tmp_path: Path) -> None:
    ecs = pg_server.client()
    ecs.create_cluster()
    register_task_definition(ecs)
    agent = AgentProcess(pg_server, tmp_path / "agent", "--runtime", "fake").start()
    try:
        agent.wait_registered()
        task = ecs.run_task(taskDefinition="web", count=1)["tasks"][0]
        wait_for_task(ecs, task["taskArn"], "RUNNING")
        ecs.create_service(serviceName="svc", taskDefinition="web", desiredCount=2)
        wait_for(lambda: ecs.describe_services(services=["svc"])["services"][0]["runningCount"] == 2,
                 what="the service's 2 tasks running")

        pg_server.restart()
        assert not list((tmp_path / "data").glob("*.db")), "state went to SQLite, not PostgreSQL"
        ecs = pg_server.client()
        assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["status"] == "ACTIVE"
        assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
        assert ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING"
        assert ecs.describe_services(services=["svc"])["services"][0]["desiredCount"] == 2
        ecs.stop_task(task=task["taskArn"])
        wait_for_task(ecs, task["taskArn"], "STOPPED")
    finally:
        agent.stop()


def test_an_unreachable_database_is_refused_in_one_line(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    done = subprocess.run(
        [sys.executable, "-m", "portside", "server", "--port", "0", "--data-dir", str(tmp_path),
         "--db", f"postgresql://portside:secret@127.0.0.1:{port}/portside"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("portside: cannot open the database"), done.stderr
    assert "secret" not in done.stderr
