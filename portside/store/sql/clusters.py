"""Clusters, in either backend."""

from __future__ import annotations

from ...domain.documents import Doc
from .base import SqlRepository, dump
from .tasks import LIVE


class SharedClusters(SqlRepository):
    def get_cluster(self, name: str) -> Doc | None:
        return self._doc("SELECT doc FROM clusters WHERE name = ?", (name,))

    def put_cluster(self, doc: Doc) -> None:
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
