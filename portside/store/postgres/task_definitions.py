"""Task definitions in PostgreSQL: the SQL both backends share
(store/shared/task_definitions.py) over this backend's database."""

from __future__ import annotations

from ..shared.task_definitions import SharedTaskDefinitions
from .database import PostgresDatabase


class PostgresTaskDefinitions(SharedTaskDefinitions, PostgresDatabase):
    """Nothing this backend spells differently."""
