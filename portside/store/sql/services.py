"""Services (the service scheduler's), in either backend."""

from __future__ import annotations

import json

from ...domain.documents import Doc
from ...domain.service_record import SchedulerMemory
from ..interface import ServiceTaskRow
from .base import SqlRepository, dump


class SharedServices(SqlRepository):
    def get_service(self, arn: str) -> Doc | None:
        return self._doc("SELECT doc FROM services WHERE arn = ?", (arn,))

    def put_service(self, doc: Doc, memory: SchedulerMemory | None = None) -> None:
        """Insert or update; re-creating a service of the same ARN replaces it.
        The scheduler's memory is written when given, else kept (a new row
        starts with an empty one)."""
        row = (doc["serviceArn"], doc["clusterArn"], doc["serviceName"], doc["status"],
               doc.get("schedulingStrategy", "REPLICA"), doc.get("launchType", "EC2"), dump(doc))
        if memory is None:
            self._db.execute(
                "INSERT INTO services (arn, cluster_arn, name, status, scheduling_strategy, launch_type, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
                "status = excluded.status, scheduling_strategy = excluded.scheduling_strategy, "
                "launch_type = excluded.launch_type, doc = excluded.doc",
                row,
            )
            return
        self._db.execute(
            "INSERT INTO services (arn, cluster_arn, name, status, scheduling_strategy, launch_type, doc, memory) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
            "status = excluded.status, scheduling_strategy = excluded.scheduling_strategy, "
            "launch_type = excluded.launch_type, doc = excluded.doc, memory = excluded.memory",
            (*row, dump(memory.to_record())),
        )

    def get_service_memory(self, arn: str) -> SchedulerMemory:
        """The service scheduler's memory of a service (a fresh one when none)."""
        row = self._db.execute("SELECT memory FROM services WHERE arn = ?", (arn,)).fetchone()
        return SchedulerMemory.from_record(json.loads(row[0])) if row else SchedulerMemory()

    def list_service_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        return self._page_by_seq(
            "services", cluster_arn, ["status = 'ACTIVE'", "seq > ?"], filters, after_seq, limit
        )

    def count_services(self, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        return self._count("services", cluster_arn, statuses)

    def count_services_by_launch_type(self, cluster_arn: str, statuses: tuple[str, ...]) -> dict[str, int]:
        marks = ",".join(["?"] * len(statuses))
        rows = self._db.execute(
            f"SELECT launch_type, COUNT(*) FROM services WHERE cluster_arn = ? AND status IN ({marks}) "
            "GROUP BY launch_type",
            (cluster_arn, *statuses),
        )
        return dict(rows.fetchall())

    def services_to_reconcile(self) -> list[Doc]:
        """Every ACTIVE or DRAINING service, oldest first."""
        return self._docs("SELECT doc FROM services WHERE status IN ('ACTIVE', 'DRAINING') ORDER BY seq")

    def live_service_arns(self) -> list[str]:
        """The ARNs of every ACTIVE or DRAINING service, oldest first (no documents decoded)."""
        rows = self._db.execute("SELECT arn FROM services WHERE status IN ('ACTIVE', 'DRAINING') ORDER BY seq")
        return [row[0] for row in rows]

    def service_tasks(self, cluster_arn: str, service_name: str) -> list[ServiceTaskRow]:
        """The service's tasks not yet STOPPED, as (ARN, startedBy, instance
        ARN, desiredStatus, lastStatus) in creation order: no documents decoded."""
        rows = self._db.execute(
            "SELECT arn, started_by, instance_arn, desired_status, last_status FROM tasks "
            "WHERE cluster_arn = ? AND service_name = ? AND last_status != 'STOPPED' ORDER BY seq",
            (cluster_arn, service_name),
        )
        return rows.fetchall()

    def service_tasks_stopped_since(self, cluster_arn: str, service_name: str, since: float) -> list[Doc]:
        """The service's tasks that reached STOPPED after `since`, oldest stop first."""
        return self._docs(
            "SELECT doc FROM tasks WHERE cluster_arn = ? AND service_name = ? AND stopped_at > ? "
            "ORDER BY stopped_at",
            (cluster_arn, service_name, since),
        )
