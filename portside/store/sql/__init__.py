"""Repositories written once for both backends (SQLite and PostgreSQL), with
SQLite's `?` parameters (the PostgreSQL connection takes them too:
`store.postgres.database.pyformat`) and their other differences confined to a
`store.dialect.Dialect` or a class attribute:

- CloudWatch Logs, Secrets Manager and SSM Parameter Store (`SqlLogs`, ...),
  each given the backend's connection (`execute`/`executemany` returning
  cursors, as sqlite3 and psycopg do) and dialect;
- the ECS aggregates (`SharedTasks`, `SharedServices`, `SharedInstances`,
  `SharedTaskDefinitions`, `SharedClusters`), mixins each backend puts over
  its own database class (e.g. `SqliteTasks(SharedTasks, SqliteDatabase)`),
  so its unit of work, helpers and schema stay its own."""

from .logs import SqlLogs
from .parameters import SqlParameters
from .secrets import SqlSecrets

__all__ = ["SqlLogs", "SqlParameters", "SqlSecrets"]
