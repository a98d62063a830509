"""The shared backend: PostgreSQL (see `store.py` for how it is put together)."""

from .coordination import PostgresCoordination
from .migrations import latest as latest_schema_version
from .store import PostgresStore

__all__ = ["PostgresCoordination", "PostgresStore", "latest_schema_version"]
