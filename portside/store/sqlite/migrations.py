"""The schema as numbered steps.  The database records the last step applied
(`meta.schema_version`); opening it applies the steps it lacks, each in a
transaction of its own, and refuses a database whose version is newer than
the last step here (written by a newer Portside).

To change the schema, append a step; never edit one that has shipped.

One row per resource, the ECS-shaped document as JSON, and beside it the
columns that queries filter, sort and count on (indexed).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from ..interface import SchemaTooNew

Step = Callable[[sqlite3.Connection], None]


def _run(*statements: str) -> Step:
    def step(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return step


_BASE = _run(
    """CREATE TABLE IF NOT EXISTS clusters (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS task_definitions (
        arn TEXT PRIMARY KEY,
        family TEXT NOT NULL,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (family, revision)
    )""",
    """CREATE TABLE IF NOT EXISTS container_instances (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        arn TEXT NOT NULL UNIQUE,
        cluster_arn TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS instances_by_cluster ON container_instances (cluster_arn, status)",
    """CREATE TABLE IF NOT EXISTS tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        arn TEXT NOT NULL UNIQUE,
        cluster_arn TEXT NOT NULL,
        instance_arn TEXT,
        family TEXT NOT NULL,
        started_by TEXT,
        service_name TEXT,
        desired_status TEXT NOT NULL,
        last_status TEXT NOT NULL,
        launch_type TEXT NOT NULL,
        client_token TEXT,
        stopped_at REAL,
        reservation TEXT NOT NULL DEFAULT '{}',
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tasks_by_cluster ON tasks (cluster_arn, desired_status, seq)",
    "CREATE INDEX IF NOT EXISTS tasks_by_instance ON tasks (instance_arn, last_status)",
    "CREATE INDEX IF NOT EXISTS tasks_by_token ON tasks (cluster_arn, client_token) "
    "WHERE client_token IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS tasks_by_stop ON tasks (stopped_at) WHERE stopped_at IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS tags (
        resource_arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key)
    )""",
)

# Services (the service scheduler): one row per service; its deployments and
# events live in the document.  A service name is unique per cluster:
# re-creating an INACTIVE one replaces it.
_SERVICES = _run(
    """CREATE TABLE IF NOT EXISTS services (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        arn TEXT NOT NULL UNIQUE,
        cluster_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        scheduling_strategy TEXT NOT NULL,
        launch_type TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS services_by_cluster ON services (cluster_arn, status, seq)",
    "CREATE INDEX IF NOT EXISTS services_by_status ON services (status)",
    "CREATE INDEX IF NOT EXISTS tasks_by_service ON tasks (cluster_arn, service_name, last_status) "
    "WHERE service_name IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS tasks_by_service_stop ON tasks (cluster_arn, service_name, stopped_at) "
    "WHERE stopped_at IS NOT NULL",
)


def _task_group(conn: sqlite3.Connection) -> None:
    """Tasks carry their group in a column, filled in for the tasks already there."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
    if "task_group" not in columns:
        conn.execute("ALTER TABLE tasks ADD COLUMN task_group TEXT")
        conn.execute("UPDATE tasks SET task_group = json_extract(doc, '$.group')")


# Placement: which groups run where is derived from the live tasks when the
# scheduler loads a cluster, not read through an index: indexes keyed by
# instance scatter every new task over many pages (and so many WAL pages per
# commit); keys that end in the row id only append.
_PLACEMENT = _run(
    "DROP INDEX IF EXISTS tasks_by_group",
    "DROP INDEX IF EXISTS tasks_by_last_status",
    "CREATE INDEX IF NOT EXISTS tasks_by_cluster_status ON tasks (cluster_arn, last_status)",
)


# Keyed documents of the families with no query of their own (store/records.py).
_RECORDS = _run(
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        parent TEXT NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (kind, key)
    )""",
    "CREATE INDEX IF NOT EXISTS records_by_parent ON records (kind, parent, seq)",
)


def _own_records(conn: sqlite3.Connection) -> None:
    """What Portside keeps of its own moves out of the wire documents: the
    service scheduler's memory (the `_` members of a Service document) into
    `services.memory` (a `SchedulerMemory` record as JSON), and whether an
    agent polls for an instance (`_agentPolls`) into `container_instances.agent_polls`."""
    conn.execute("ALTER TABLE services ADD COLUMN memory TEXT NOT NULL DEFAULT '{}'")
    conn.execute("ALTER TABLE container_instances ADD COLUMN agent_polls INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE container_instances SET agent_polls = 1, doc = json_remove(doc, '$._agentPolls') "
        "WHERE json_extract(doc, '$._agentPolls')"
    )
    conn.execute("UPDATE container_instances SET doc = json_remove(doc, '$._agentPolls') "
                 "WHERE json_type(doc, '$._agentPolls') IS NOT NULL")
    renamed = {"_clientToken": "client_token", "_stoppedWatermark": "stopped_watermark", "_steady": "steady",
               "_failStreak": "fail_streak", "_failedAt": "failed_at", "_unplaceable": "unplaceable_message",
               "_unplaceableAt": "unplaceable_at"}
    for arn, text in conn.execute("SELECT arn, doc FROM services").fetchall():
        doc = json.loads(text)
        memory = {renamed[k]: doc.pop(k) for k in list(doc) if k in renamed}
        last = doc.pop("_lastCompleted", None)
        if last:
            memory["last_completed"] = {"id": last["id"], "task_definition": last["taskDefinition"]}
        for key in [k for k in doc if k.startswith("_")]:
            del doc[key]
        conn.execute("UPDATE services SET doc = ?, memory = ? WHERE arn = ?",
                     (json.dumps(doc, separators=(",", ":")), json.dumps(memory), arn))
# CloudWatch Logs, Secrets Manager and SSM Parameter Store (store/logs.py, secrets.py,
# parameters.py): their own tables.  Secret values and SecureString values are
# stored sealed (store/sealing.py).
_LOGS_SECRETS_PARAMETERS = _run(
    """CREATE TABLE IF NOT EXISTS log_groups (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    retention_days INTEGER,
    log_group_class TEXT NOT NULL,
    deletion_protection INTEGER NOT NULL DEFAULT 0
)""",
    """CREATE TABLE IF NOT EXISTS log_streams (
    group_name TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, name)
)""",
    """CREATE TABLE IF NOT EXISTS log_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    stream_name TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    message TEXT NOT NULL
)""",
    """CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (group_name, stream_name, ts, seq)""",
    """CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_name, ts, seq)""",
    """CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    description TEXT,
    created REAL NOT NULL,
    last_changed REAL NOT NULL,
    last_accessed REAL,
    deletion_date REAL
)""",
    """CREATE TABLE IF NOT EXISTS secret_versions (
    secret_name TEXT NOT NULL,
    version_id TEXT NOT NULL,
    created REAL NOT NULL,
    last_accessed REAL,
    sealed BLOB NOT NULL,
    stages TEXT NOT NULL,
    PRIMARY KEY (secret_name, version_id)
)""",
    """CREATE TABLE IF NOT EXISTS parameter_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    description TEXT,
    allowed_pattern TEXT,
    key_id TEXT,
    tier TEXT NOT NULL,
    data_type TEXT NOT NULL,
    modified REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (name, version)
)""",
    """CREATE TABLE IF NOT EXISTS sealing_check (id INTEGER PRIMARY KEY, token BLOB NOT NULL)""",
)


# Step N (1-based) brings a database from version N-1 to N.  Databases made
# before the steps were numbered all say version 1 whatever else they had
# been given; steps 2-5 are written to be harmless on such a database.
STEPS: list[Step] = [_BASE, _SERVICES, _task_group, _PLACEMENT, _RECORDS, _own_records,
                     _LOGS_SECRETS_PARAMETERS]


def latest() -> int:
    return len(STEPS)


def migrate(conn: sqlite3.Connection, name: str, steps: list[Step] | None = None) -> int:
    """Bring the database up to the last step; returns its version.
    SchemaTooNew when it is already past it."""
    steps = STEPS if steps is None else steps
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    version = _version(conn)
    if version > len(steps):
        raise SchemaTooNew(
            f"the database {name} has schema version {version}, but this Portside knows versions "
            f"up to {len(steps)}: run a newer Portside, or use another data directory"
        )
    while version < len(steps):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _version(conn) == version:  # another process may have applied it meanwhile
                steps[version](conn)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version + 1),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = _version(conn)
    return version


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0
