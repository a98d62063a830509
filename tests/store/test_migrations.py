"""The SQLite schema's numbered steps: a database records its version, an
older one is upgraded on open, a newer one is refused with one clear line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from portside.domain.service_record import CompletedDeployment, SchedulerMemory
from portside.server.runner import encode_task
from portside.store.interface import SchemaTooNew
from portside.store.sqlite import SqliteStore, latest_schema_version
from portside.store.sqlite.migrations import STEPS, migrate

ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"

# The schema as the first Portside made it (before services, the task_group
# column and the placement index); such databases say version 1.
FIRST_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE clusters (name TEXT PRIMARY KEY, arn TEXT NOT NULL UNIQUE, status TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE task_definitions (arn TEXT PRIMARY KEY, family TEXT NOT NULL, revision INTEGER NOT NULL,
    status TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (family, revision));
CREATE TABLE container_instances (seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL UNIQUE,
    cluster_arn TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL UNIQUE, cluster_arn TEXT NOT NULL,
    instance_arn TEXT, family TEXT NOT NULL, started_by TEXT, service_name TEXT, desired_status TEXT NOT NULL,
    last_status TEXT NOT NULL, launch_type TEXT NOT NULL, client_token TEXT, stopped_at REAL,
    reservation TEXT NOT NULL DEFAULT '{}', doc TEXT NOT NULL);
CREATE INDEX tasks_by_last_status ON tasks (last_status);
CREATE TABLE tags (resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key));
INSERT INTO meta VALUES ('schema_version', '1');
"""


def recorded_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    finally:
        conn.close()


def open_store(path: Path) -> SqliteStore:
    return SqliteStore(path, encode_task=encode_task)


def test_a_new_database_records_the_latest_version(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    assert store.schema_version() == latest_schema_version() >= 6
    store.close()
    assert recorded_version(tmp_path / "state.db") == latest_schema_version()


def test_a_first_version_database_is_upgraded_on_open_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(FIRST_SCHEMA)
    instance = f"{ACCOUNT}:container-instance/c/i"
    task = {"taskArn": f"{ACCOUNT}:task/c/t", "clusterArn": f"{ACCOUNT}:cluster/c", "group": "service:web",
            "containerInstanceArn": instance, "lastStatus": "RUNNING", "desiredStatus": "RUNNING"}
    old.execute(
        "INSERT INTO tasks (arn, cluster_arn, instance_arn, family, desired_status, last_status, launch_type, "
        "reservation, doc) VALUES (?, ?, ?, 'web', 'RUNNING', 'RUNNING', 'EC2', ?, ?)",
        (task["taskArn"], task["clusterArn"], instance, json.dumps({"cpu": 5}), json.dumps(task)),
    )
    old.commit()
    old.close()

    store = open_store(path)
    try:
        assert store.schema_version() == latest_schema_version()
        assert store.get_task(task["taskArn"]) == task
        # step 3 filled in the group column from the documents
        assert list(store.live_holdings(f"{ACCOUNT}:cluster/c")) == [(instance, {"cpu": 5}, "service:web")]
        # step 2 made the services table
        assert store.services_to_reconcile() == []
        assert store.records.of_kind("deployment") == []  # step 5 made the records table
    finally:
        store.close()
    assert recorded_version(path) == latest_schema_version()
    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "tasks_by_last_status" not in indexes and "tasks_by_cluster_status" in indexes  # step 4


def test_a_database_of_a_newer_portside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(latest_schema_version() + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew) as refused:
        open_store(path)
    message = str(refused.value)
    assert "\n" not in message
    assert f"schema version {latest_schema_version() + 1}" in message and str(path) in message
    assert recorded_version(path) == latest_schema_version() + 1  # left as it was


def test_the_server_refuses_a_newer_database_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "portside.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    done = subprocess.run(
        [sys.executable, "-m", "portside", "server", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("portside: ") and "schema version 999" in lines[0], done.stderr


def test_a_failing_step_leaves_the_database_at_the_last_good_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half (x)")
        raise RuntimeError("step failed")

    steps = [lambda c: c.execute("CREATE TABLE one (x)"), broken]
    with pytest.raises(RuntimeError):
        migrate(conn, "state.db", steps)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "one" in tables and "half" not in tables
    assert conn.execute("SELECT value FROM meta").fetchone()[0] == "1"
    assert migrate(conn, "state.db", steps[:1]) == 1  # nothing left to do
    conn.close()


def test_private_members_move_out_of_the_documents(tmp_path: Path) -> None:
    """Step 6: the service scheduler's `_` members and `_agentPolls` leave the
    wire documents for records of their own."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), STEPS[:5])
    service = {"serviceArn": f"{ACCOUNT}:service/c/web", "clusterArn": f"{ACCOUNT}:cluster/c",
               "serviceName": "web", "status": "ACTIVE", "desiredCount": 2}
    old = dict(service, _clientToken="tok", _stoppedWatermark=7.5, _steady=True, _failStreak=3, _failedAt=6.0,
               _lastCompleted={"id": "ecs-svc/1", "taskDefinition": "td:1"}, _unplaceable="no room",
               _unplaceableAt=5.0)
    conn.execute("INSERT INTO services (arn, cluster_arn, name, status, scheduling_strategy, launch_type, doc) "
                 "VALUES (?, ?, 'web', 'ACTIVE', 'REPLICA', 'EC2', ?)",
                 (service["serviceArn"], service["clusterArn"], json.dumps(old)))
    polled = {"containerInstanceArn": f"{ACCOUNT}:container-instance/c/a", "clusterArn": f"{ACCOUNT}:cluster/c",
              "status": "ACTIVE"}
    other = dict(polled, containerInstanceArn=f"{ACCOUNT}:container-instance/c/b")
    for doc in (dict(polled, _agentPolls=True), other):
        conn.execute("INSERT INTO container_instances (arn, cluster_arn, status, version, doc) "
                     "VALUES (?, ?, 'ACTIVE', 1, ?)", (doc["containerInstanceArn"], doc["clusterArn"], json.dumps(doc)))
    conn.close()

    store = open_store(path)
    try:
        assert store.get_service(service["serviceArn"]) == service
        assert store.get_service_memory(service["serviceArn"]) == SchedulerMemory(
            client_token="tok", stopped_watermark=7.5, steady=True, fail_streak=3, failed_at=6.0,
            last_completed=CompletedDeployment("ecs-svc/1", "td:1"), unplaceable_message="no room",
            unplaceable_at=5.0)
        assert store.agent_polled_instances() == {polled["containerInstanceArn"]}
        assert dict(store.instance_documents(f"{ACCOUNT}:cluster/c")) == {
            polled["containerInstanceArn"]: polled, other["containerInstanceArn"]: other}
    finally:
        store.close()
