"""Clusters, in either backend."""

from __future__ import annotations

import json

from ...domain.documents import Doc
from .base import SqlRepository, dump
from .tasks import LIVE

CLUSTERS_CACHED = 256  # clusters kept in memory (their JSON text)


class SharedClusters(SqlRepository):
    """Clusters are read by nearly every call (RunTask, StopTask, DescribeTasks...),
    so the found ones are kept here as their JSON text, dropped with the
    store's generation (another server wrote, a transaction rolled back): on
    PostgreSQL that is a round trip saved per call.  Each caller gets a new
    document, decoded from the text, to change as it likes."""

    _clusters: dict[str, str]  # set by the store: name → JSON text, found clusters only
    _clusters_generation: int

    def get_cluster(self, name: str) -> Doc | None:
        generation = self.generation()
        if generation != self._clusters_generation:
            self._clusters.clear()
            self._clusters_generation = generation
        text = self._clusters.get(name)
        if text is None:
            row = self._db.execute("SELECT doc FROM clusters WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            text = row[0]
            if len(self._clusters) >= CLUSTERS_CACHED:
                self._clusters.clear()
            self._clusters[name] = text
        doc: Doc = json.loads(text)
        return doc

    def put_cluster(self, doc: Doc) -> None:
        self._clusters.pop(doc["clusterName"], None)
        self._db.execute(
            "INSERT INTO clusters (name, arn, status, doc) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET arn = excluded.arn, status = excluded.status, doc = excluded.doc",
            (doc["clusterName"], doc["clusterArn"], doc["status"], dump(doc)),
        )

    def list_cluster_arns(self, after: str, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT arn FROM clusters WHERE status = 'ACTIVE' AND arn > ? ORDER BY arn LIMIT ?",
            (after, limit),
        )
        return [r[0] for r in rows]

    def cluster_task_counts(self, cluster_arn: str) -> dict[str, int]:
        """Live tasks of a cluster by lastStatus."""
        rows = self._db.execute(
            f"SELECT last_status, COUNT(*) FROM tasks WHERE cluster_arn = ? AND {LIVE} GROUP BY last_status",
            (cluster_arn,),
        )
        return dict(rows.fetchall())

    def cluster_task_counts_by_launch_type(self, cluster_arn: str) -> dict[tuple[str, str], int]:
        rows = self._db.execute(
            "SELECT launch_type, last_status, COUNT(*) FROM tasks "
            f"WHERE cluster_arn = ? AND {LIVE} GROUP BY launch_type, last_status",
            (cluster_arn,),
        )
        return {(launch_type, status): count for launch_type, status, count in rows.fetchall()}
