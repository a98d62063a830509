"""Tags in SQLite: the SQL both backends share (store/sql/tags.py) over this
backend's database."""

from __future__ import annotations

from ..sql.tags import SharedTags
from .database import SqliteDatabase


class SqliteTags(SharedTags, SqliteDatabase):
    """Nothing this backend spells differently."""
