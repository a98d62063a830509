"""Services (the service scheduler's) in SQLite: the SQL both backends share
(store/sql/services.py) over this backend's database."""

from __future__ import annotations

from ..sql.services import SharedServices
from .database import SqliteDatabase


class SqliteServices(SharedServices, SqliteDatabase):
    """Nothing this backend spells differently."""
