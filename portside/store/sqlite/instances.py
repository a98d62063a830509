"""Container instances in SQLite: the SQL both backends share
(store/sql/instances.py) over this backend's database."""

from __future__ import annotations

from ..sql.instances import SharedInstances
from .database import SqliteDatabase


class SqliteInstances(SharedInstances, SqliteDatabase):
    """Nothing this backend spells differently."""
