"""Tags in PostgreSQL: the SQL both backends share (store/sql/tags.py) over
this backend's database."""

from __future__ import annotations

from ..sql.tags import SharedTags
from .database import PostgresDatabase


class PostgresTags(SharedTags, PostgresDatabase):
    TAG_ORDER = "seq"  # PostgreSQL has no rowid
