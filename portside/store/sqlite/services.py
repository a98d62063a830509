"""Services (the service scheduler's) in SQLite: the SQL both backends share
(store/shared/services.py) over this backend's database."""

from __future__ import annotations

from ..shared.services import SharedServices
from .database import SqliteDatabase


class SqliteServices(SharedServices, SqliteDatabase):
    """Nothing this backend spells differently."""
