"""Task definitions in SQLite: the SQL both backends share
(store/shared/task_definitions.py) over this backend's database."""

from __future__ import annotations

from ..shared.task_definitions import SharedTaskDefinitions
from .database import SqliteDatabase


class SqliteTaskDefinitions(SharedTaskDefinitions, SqliteDatabase):
    """Nothing this backend spells differently."""
