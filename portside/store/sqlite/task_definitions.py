"""Task definitions in SQLite: the SQL both backends share
(store/sql/task_definitions.py) over this backend's database."""

from __future__ import annotations

from ..sql.task_definitions import SharedTaskDefinitions
from .database import SqliteDatabase


class SqliteTaskDefinitions(SharedTaskDefinitions, SqliteDatabase):
    """Nothing this backend spells differently."""
