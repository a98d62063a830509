"""Services (the service scheduler's) in PostgreSQL: the SQL both backends share
(store/sql/services.py) over this backend's database."""

from __future__ import annotations

from ..sql.services import SharedServices
from .database import PostgresDatabase


class PostgresServices(SharedServices, PostgresDatabase):
    """Nothing this backend spells differently."""
