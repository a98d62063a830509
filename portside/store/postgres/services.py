"""Services (the service scheduler's) in PostgreSQL: the SQL both backends share
(store/shared/services.py) over this backend's database."""

from __future__ import annotations

from ..shared.services import SharedServices
from .database import PostgresDatabase


class PostgresServices(SharedServices, PostgresDatabase):
    """Nothing this backend spells differently."""
