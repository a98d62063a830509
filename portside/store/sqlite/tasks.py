"""Tasks in SQLite: the SQL both backends share
(store/sql/tasks.py) over this backend's database."""

from __future__ import annotations

from ..sql.tasks import LIVE, SharedTasks
from .database import SqliteDatabase

__all__ = ["LIVE", "SqliteTasks"]


class SqliteTasks(SharedTasks, SqliteDatabase):
    """Nothing this backend spells differently."""
