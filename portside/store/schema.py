"""The relational schema: one row per resource, the ECS-shaped document as JSON,
and beside it the columns that queries filter, sort and count on (indexed).
"""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS clusters (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS task_definitions (
    arn TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (family, revision)
);

CREATE TABLE IF NOT EXISTS container_instances (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    cluster_arn TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_cluster ON container_instances (cluster_arn, status);

CREATE TABLE IF NOT EXISTS tasks (
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
);
CREATE INDEX IF NOT EXISTS tasks_by_cluster ON tasks (cluster_arn, desired_status, seq);
CREATE INDEX IF NOT EXISTS tasks_by_instance ON tasks (instance_arn, last_status);
CREATE INDEX IF NOT EXISTS tasks_by_token ON tasks (cluster_arn, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_by_stop ON tasks (stopped_at) WHERE stopped_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS tags (
    resource_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);
"""

# -- services (the service scheduler) -------------------------------------------
# One row per service; its deployments and events live in the document.  A
# service name is unique per cluster: re-creating an INACTIVE one replaces it.
SERVICES_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    cluster_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    scheduling_strategy TEXT NOT NULL,
    launch_type TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS services_by_cluster ON services (cluster_arn, status, seq);
CREATE INDEX IF NOT EXISTS services_by_status ON services (status);
CREATE INDEX IF NOT EXISTS tasks_by_service ON tasks (cluster_arn, service_name, last_status)
    WHERE service_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_by_service_stop ON tasks (cluster_arn, service_name, stopped_at)
    WHERE stopped_at IS NOT NULL;
"""

# -- placement -----------------------------------------------------------------
# `task_group` (added to older databases by the store on open) is the task's
# group.  Which groups run where is derived by the store from the live tasks
# when it loads a cluster, not read through an index: indexes keyed by
# instance scatter every new task over many pages (and so many WAL pages
# per commit); keys that end in the row id only append.
PLACEMENT_SCHEMA = """
DROP INDEX IF EXISTS tasks_by_group;
DROP INDEX IF EXISTS tasks_by_last_status;
CREATE INDEX IF NOT EXISTS tasks_by_cluster_status ON tasks (cluster_arn, last_status);
"""
