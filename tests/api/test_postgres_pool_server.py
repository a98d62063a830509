"""The PostgreSQL connection pool (store/postgres/pool.py), seen from outside:
real `portside server` processes driven through boto3, the pool's figures on
/metrics (only on PostgreSQL); sessions the database ends (`pg_terminate_backend`)
discarded and replaced by the pool; and a ~10 s outage after which service
resumes by itself within seconds of the database returning (psycopg_pool's
own exponential reconnect backoff would leave it down for several more)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from conftest import ServerProcess
from helpers import register_instance, wait_for
from pg_servers import LEASE_S, health, start_servers, stop_servers
from portside.testing import postgres

pytestmark = [pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable())),
              pytest.mark.serial]  # an outage of the test's own cluster; generous bounds on resuming

POOL = "portside_db_pool_"
OUTAGE_S = 10.0
RESUMES_WITHIN_S = 3.0  # after the database is back; psycopg_pool's default backoff would take 4-15 s more


def figures(server: ServerProcess) -> dict[str, float]:
    """The samples of one /metrics scrape, by name (the pool's have no labels; of
    a labelled family, any one sample)."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}


def end_sessions(dsn: str) -> int:
    """End every other session on the DSN's database, as an administrator (or a
    restart, or a failover) would: the server's pooled connections included."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    return sum(1 for (ended,) in rows if ended)


def succeeds(call) -> bool:
    try:
        call()
        return True
    except ClientError:
        return False


def test_sessions_the_database_ends_are_replaced_by_the_pool(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--db", postgres.fresh_database()).start()
    try:
        ecs = server.client()
        ecs.create_cluster(clusterName="before")
        before = figures(server)
        for name in ("connections", "available", "waiting", "connects_total", "connect_errors_total",
                     "connections_lost_total"):
            assert POOL + name in before, f"{POOL}{name} missing from /metrics"
        assert before[POOL + "connections"] >= 2  # the request connection and the lease thread's
        assert before[POOL + "connections_lost_total"] == 0

        assert end_sessions(postgres_dsn(server)) >= 2
        failed = 0
        for i in range(6):
            try:
                ecs.create_cluster(clusterName=f"after{i}")
            except ClientError as exc:  # the request connection was ended under it: AWS's retryable error
                assert exc.response["Error"]["Code"] == "ServerException"
                failed += 1
        assert failed <= 1, f"{failed} calls failed after the sessions ended: the pool lent broken connections"
        names = {arn.rpartition("/")[2] for arn in ecs.list_clusters()["clusterArns"]}
        assert {"before", "after5"} <= names

        after = figures(server)
        assert after[POOL + "connections_lost_total"] >= 1, "the ended connections were not counted as lost"
        assert after[POOL + "connects_total"] > before[POOL + "connects_total"], "nothing was reconnected"
        assert after[POOL + "connections"] >= 2
    finally:
        server.stop()


def postgres_dsn(server: ServerProcess) -> str:
    return server.extra[server.extra.index("--db") + 1]


def test_the_pools_figures_are_shown_on_postgresql_only(tmp_path: Path) -> None:
    sqlite = ServerProcess(tmp_path / "sqlite").start()
    try:
        sqlite.client().create_cluster()
        shown = figures(sqlite)
        assert "portside_api_requests_total" in shown
        assert not [name for name in shown if name.startswith(POOL)], "a pool on SQLite?"
    finally:
        sqlite.stop()


def test_service_resumes_within_seconds_after_a_ten_second_outage(tmp_path: Path) -> None:
    """Calls fail fast (ServerException) all through the outage; once PostgreSQL
    is back the next calls succeed within RESUMES_WITHIN_S, /health says so,
    and no server restart is needed."""
    with postgres.postgres_server() as pg:
        servers = start_servers(pg.dsn, tmp_path, 1)
        server = servers[0]
        try:
            ecs = server.client()
            ecs.create_cluster()
            register_instance(ecs)
            ecs.register_task_definition(family="web", containerDefinitions=[
                {"name": "web", "image": "nginx", "cpu": 128, "memory": 128}])
            assert len(ecs.run_task(taskDefinition="web")["tasks"]) == 1

            pg.stop()
            until = time.monotonic() + OUTAGE_S
            calls = 0
            while time.monotonic() < until:
                started = time.monotonic()
                with pytest.raises(ClientError) as failed:
                    ecs.run_task(taskDefinition="web")
                assert failed.value.response["Error"]["Code"] == "ServerException"
                assert time.monotonic() - started < 5, "a call hung on the missing database"
                calls += 1
                time.sleep(0.5)
            assert calls >= 5
            assert health(server)[1]["database"] == "unreachable"
            pg.start()
            back = time.monotonic()
            wait_for(lambda: succeeds(ecs.list_clusters), timeout=RESUMES_WITHIN_S + 10, what="calls succeed")
            resumed = time.monotonic() - back
            assert resumed < RESUMES_WITHIN_S, f"service resumed {resumed:.1f} s after the database returned"
            assert len(ecs.list_tasks()["taskArns"]) == 1, "a RunTask during the outage left a task behind"
            assert len(ecs.run_task(taskDefinition="web")["tasks"]) == 1
            wait_for(lambda: health(server)[1]["database"] == "ok", timeout=LEASE_S + 5, what="/health: database ok")
            assert figures(server)[POOL + "connect_errors_total"] >= 1  # the pool did try, and fail, meanwhile
        finally:
            stop_servers(servers)
