"""The PostgreSQL schema as numbered steps, versioned as SQLite's are
(store/sqlite/migrations.py): the database records the last step applied
(`meta.schema_version`); opening it applies the steps it lacks, each in a
transaction of its own under an advisory lock (several servers may open it at
once), and refuses a database whose version is newer than the last step here.

To change the schema, append a step; never edit one that has shipped.  Step 1
is the SQLite schema as of its step 6, in PostgreSQL's words.  Text columns
compare bytewise (COLLATE "C"): ARN ranges and pages rely on it, whatever
locale the database was created with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from ..interface import SchemaTooNew

Step = Callable[[psycopg.Connection[Any]], None]
_LOCK = 0x706F727473696465  # "portside": the advisory lock migrations take


def _run(*statements: str) -> Step:
    def step(conn: psycopg.Connection[Any]) -> None:
        for statement in statements:
            conn.execute(statement.replace("TEXT", 'TEXT COLLATE "C"'))

    return step


_BASE = _run(
    """CREATE TABLE changes (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)""",
    "INSERT INTO changes VALUES (1, 0)",
    """CREATE TABLE clusters (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE task_definitions (
        arn TEXT PRIMARY KEY,
        family TEXT NOT NULL,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (family, revision)
    )""",
    """CREATE TABLE container_instances (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        cluster_arn TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        agent_polls BOOLEAN NOT NULL DEFAULT FALSE,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX instances_by_cluster ON container_instances (cluster_arn, status)",
    """CREATE TABLE tasks (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        stopped_at DOUBLE PRECISION,
        reservation TEXT NOT NULL DEFAULT '{}',
        task_group TEXT,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX tasks_by_cluster ON tasks (cluster_arn, desired_status, seq)",
    "CREATE INDEX tasks_by_instance ON tasks (instance_arn, last_status)",
    "CREATE INDEX tasks_by_token ON tasks (cluster_arn, client_token) WHERE client_token IS NOT NULL",
    "CREATE INDEX tasks_by_stop ON tasks (stopped_at) WHERE stopped_at IS NOT NULL",
    "CREATE INDEX tasks_by_cluster_status ON tasks (cluster_arn, last_status)",
    "CREATE INDEX tasks_by_service ON tasks (cluster_arn, service_name, last_status) "
    "WHERE service_name IS NOT NULL",
    "CREATE INDEX tasks_by_service_stop ON tasks (cluster_arn, service_name, stopped_at) "
    "WHERE stopped_at IS NOT NULL",
    """CREATE TABLE tags (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        resource_arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key)
    )""",
    """CREATE TABLE services (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        cluster_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        scheduling_strategy TEXT NOT NULL,
        launch_type TEXT NOT NULL,
        memory TEXT NOT NULL DEFAULT '{}',
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX services_by_cluster ON services (cluster_arn, status, seq)",
    "CREATE INDEX services_by_status ON services (status)",
    """CREATE TABLE records (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        parent TEXT NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (kind, key)
    )""",
    "CREATE INDEX records_by_parent ON records (kind, parent, seq)",
)

# Several servers on one database (store/postgres/coordination.py): the leader
# lease, one row, whose token fences the leader's writes; and when each
# instance's agent last polled any server (agentConnected on every server).
_SEVERAL_SERVERS = _run(
    """CREATE TABLE leader_lease (
        id INTEGER PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )""",
    "INSERT INTO leader_lease VALUES (1, '', 0, 'epoch')",
    """CREATE TABLE agent_polls (
        instance_arn TEXT PRIMARY KEY,
        polled_at DOUBLE PRECISION NOT NULL
    )""",
)

# CloudWatch Logs, Secrets Manager and SSM Parameter Store (store/sql/): the
# SQLite tables of its step 7.  Secret values and every parameter value are
# bytes (SecureStrings and secrets sealed: store/sealing.py).
_LOGS_SECRETS_PARAMETERS = _run(
    """CREATE TABLE log_groups (
        name TEXT PRIMARY KEY,
        created BIGINT NOT NULL,
        retention_days INTEGER,
        log_group_class TEXT NOT NULL,
        deletion_protection INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE log_streams (
        group_name TEXT NOT NULL,
        name TEXT NOT NULL,
        created BIGINT NOT NULL,
        first_event BIGINT,
        last_event BIGINT,
        last_ingestion BIGINT,
        stored_bytes BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (group_name, name)
    )""",
    """CREATE TABLE log_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        group_name TEXT NOT NULL,
        stream_name TEXT NOT NULL,
        ts BIGINT NOT NULL,
        ingested BIGINT NOT NULL,
        message TEXT NOT NULL
    )""",
    "CREATE INDEX log_events_by_stream ON log_events (group_name, stream_name, ts, seq)",
    "CREATE INDEX log_events_by_group ON log_events (group_name, ts, seq)",
    """CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        description TEXT,
        created DOUBLE PRECISION NOT NULL,
        last_changed DOUBLE PRECISION NOT NULL,
        last_accessed DOUBLE PRECISION,
        deletion_date DOUBLE PRECISION
    )""",
    """CREATE TABLE secret_versions (
        secret_name TEXT NOT NULL,
        version_id TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        last_accessed DOUBLE PRECISION,
        sealed BYTEA NOT NULL,
        stages TEXT NOT NULL,
        PRIMARY KEY (secret_name, version_id)
    )""",
    """CREATE TABLE parameter_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        value BYTEA NOT NULL,
        description TEXT,
        allowed_pattern TEXT,
        key_id TEXT,
        tier TEXT NOT NULL,
        data_type TEXT NOT NULL,
        modified DOUBLE PRECISION NOT NULL,
        labels TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (name, version)
    )""",
    "CREATE TABLE sealing_check (id INTEGER PRIMARY KEY, token BYTEA NOT NULL)",
)

# What each batch of changes (its number: the `changes` counter it took) changed:
# the container instances (newline-separated ARNs) and whether anything else
# cached by generation (clusters, task definitions).  Several servers read it to
# reload only those instances in their placement caches (store/postgres/database.py).
_CHANGE_LOG = _run(
    """CREATE TABLE change_log (
        n BIGINT PRIMARY KEY,
        instances TEXT NOT NULL,
        everything BOOLEAN NOT NULL
    )""",
)

# What each batch placed and stopped, per instance: JSON [[instance ARN, reservation
# JSON, group, tasks (negative: stopped)], ...], applied by the other servers' caches.
_CHANGE_LOG_HOLDINGS = _run("ALTER TABLE change_log ADD COLUMN holdings TEXT NOT NULL DEFAULT ''")

# Step N (1-based) brings a database from version N-1 to N.
STEPS: list[Step] = [_BASE, _SEVERAL_SERVERS, _LOGS_SECRETS_PARAMETERS, _CHANGE_LOG, _CHANGE_LOG_HOLDINGS]


def latest() -> int:
    return len(STEPS)


def migrate(conn: psycopg.Connection[Any], name: str, steps: list[Step] | None = None) -> int:
    """Bring the database up to the last step; returns its version.
    SchemaTooNew when it is already past it.  `conn` is in autocommit mode."""
    steps = STEPS if steps is None else steps
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute('CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)')
    version = _version(conn)
    if version > len(steps):
        raise SchemaTooNew(
            f"the database {name} has schema version {version}, but this Portside knows versions "
            f"up to {len(steps)}: run a newer Portside, or use another database"
        )
    while version < len(steps):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            if _version(conn) == version:  # another server may have applied it meanwhile
                steps[version](conn)
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(version + 1),),
                )
        version = _version(conn)
    return version


def _version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0
