"""Tasks in PostgreSQL: the SQL both backends share
(store/sql/tasks.py) over this backend's database."""

from __future__ import annotations

from ..sql.tasks import LIVE, SharedTasks
from .database import PostgresDatabase

__all__ = ["LIVE", "PostgresTasks"]


class PostgresTasks(SharedTasks, PostgresDatabase):
    TEXT_POSITION = "strpos"
