"""Clusters in PostgreSQL: the SQL both backends share
(store/sql/clusters.py) over this backend's database."""

from __future__ import annotations

from ..sql.clusters import SharedClusters
from .database import PostgresDatabase


class PostgresClusters(SharedClusters, PostgresDatabase):
    """Nothing this backend spells differently."""
