"""Repositories written once for both backends (SQLite and PostgreSQL), their
differences confined to a `store.dialect.Dialect`: CloudWatch Logs, Secrets
Manager and SSM Parameter Store.  Each is given the backend's connection
(`execute`/`executemany` returning cursors, as sqlite3 and psycopg do)."""

from .logs import SqlLogs
from .parameters import SqlParameters
from .secrets import SqlSecrets

__all__ = ["SqlLogs", "SqlParameters", "SqlSecrets"]
