"""Container instances in PostgreSQL: the SQL both backends share
(store/sql/instances.py) over this backend's database."""

from __future__ import annotations

from ..sql.instances import SharedInstances
from .database import PostgresDatabase


class PostgresInstances(SharedInstances, PostgresDatabase):
    """Nothing this backend spells differently."""
