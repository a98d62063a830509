"""Container instances, in either backend.  Their free capacity and the task groups
on them are derived and kept by the scheduler (`scheduler.placement_cache`),
so `remainingResources` is never written."""

from __future__ import annotations

import json

from ...domain.documents import Doc
from .base import IN_CHUNK, SqlRepository, dump


class SharedInstances(SqlRepository):
    def put_instance(self, doc: Doc) -> None:
        """Insert or update; bumps the version other schedulers check."""
        self._db.execute(
            "INSERT INTO container_instances (arn, cluster_arn, status, version, doc) "
            "VALUES (?, ?, ?, 1, ?) ON CONFLICT (arn) DO UPDATE SET "
            "status = excluded.status, doc = excluded.doc, version = container_instances.version + 1",
            (doc["containerInstanceArn"], doc["clusterArn"], doc["status"],
             dump({k: v for k, v in doc.items() if k != "remainingResources"})),
        )

    def instance_documents(self, cluster_arn: str) -> list[tuple[str, Doc]]:
        rows = self._db.execute(
            "SELECT arn, doc FROM container_instances WHERE cluster_arn = ? ORDER BY seq",
            (cluster_arn,),
        )
        return [(arn, json.loads(doc)) for arn, doc in rows]

    def instance_documents_of(self, arns: list[str]) -> list[tuple[str, Doc]]:
        found: list[tuple[int, str, Doc]] = []
        for i in range(0, len(arns), IN_CHUNK):
            chunk = arns[i:i + IN_CHUNK]
            rows = self._db.execute(
                f"SELECT seq, arn, doc FROM container_instances WHERE arn IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            found += [(int(seq), arn, json.loads(doc)) for seq, arn, doc in rows]
        return [(arn, doc) for _, arn, doc in sorted(found, key=lambda row: row[0])]

    def count_instances(self, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        return self._count("container_instances", cluster_arn, statuses)

    def list_instance_arns(
        self, cluster_arn: str, statuses: tuple[str, ...], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        marks = ",".join("?" * len(statuses))
        rows = self._db.execute(
            "SELECT seq, arn FROM container_instances WHERE cluster_arn = ? "
            f"AND status IN ({marks}) AND seq > ? ORDER BY seq LIMIT ?",
            (cluster_arn, *statuses, after_seq, limit),
        )
        return rows.fetchall()

    def instance_task_counts(self, instance_arns: list[str]) -> dict[tuple[str, str], int]:
        """(instance ARN, lastStatus) → number of live tasks."""
        if not instance_arns:
            return {}
        marks = ",".join("?" * len(instance_arns))
        rows = self._db.execute(
            "SELECT instance_arn, last_status, COUNT(*) FROM tasks "
            f"WHERE instance_arn IN ({marks}) AND last_status != 'STOPPED' "
            "GROUP BY instance_arn, last_status",
            instance_arns,
        )
        return {(a, s): n for a, s, n in rows}

    def running_task_counts(self, cluster_arn: str) -> dict[str, int]:
        """Instance ARN → its RUNNING tasks (one probe of tasks_by_instance per instance)."""
        rows = self._db.execute(
            "SELECT t.instance_arn, COUNT(*) FROM container_instances AS i "
            "JOIN tasks AS t ON t.instance_arn = i.arn AND t.last_status = 'RUNNING' "
            "WHERE i.cluster_arn = ? GROUP BY t.instance_arn",
            (cluster_arn,),
        )
        return dict(rows.fetchall())

    def mark_agent_polls(self, arn: str) -> None:
        """An agent polls for this instance: from now on its connection follows its polls."""
        self._db.execute("UPDATE container_instances SET agent_polls = TRUE WHERE arn = ?", (arn,))

    def agent_polled_instances(self) -> set[str]:
        """The instances an agent has ever polled for."""
        return {row[0] for row in self._db.execute("SELECT arn FROM container_instances WHERE agent_polls")}
