"""Clusters in SQLite: the SQL both backends share
(store/sql/clusters.py) over this backend's database."""

from __future__ import annotations

from ..sql.clusters import SharedClusters
from .database import SqliteDatabase


class SqliteClusters(SharedClusters, SqliteDatabase):
    """Nothing this backend spells differently."""
