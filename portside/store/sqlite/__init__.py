"""The embedded backend: SQLite (see `store.py` for how it is put together)."""

from .database import BACKGROUND_COMMIT_ROWS
from .migrations import latest as latest_schema_version
from .store import SqliteStore

__all__ = ["BACKGROUND_COMMIT_ROWS", "SqliteStore", "latest_schema_version"]
