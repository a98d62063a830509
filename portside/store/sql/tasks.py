"""Tasks, in either backend, kept as their ECS wire document (JSON text) so describing
them needs no decoding; the encoder is the one the store was opened with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from ...domain.documents import Doc
from ...domain.service_record import scheduler_of_group
from ...domain.status import Status
from .base import IN_CHUNK, SqlRepository, dump

# "last_status IN (...)" lets the database seek the live tasks in an index led by
# (cluster_arn, last_status) instead of stepping over the stopped ones.
LIVE = "last_status IN (" + ",".join(f"'{s.name}'" for s in Status if s is not Status.STOPPED) + ")"


class SharedTasks(SqlRepository):
    _encode_task: Callable[[Doc], str]  # set by the store

    def add_tasks(self, tasks: list[Doc], reservation: Doc, client_token: str | None = None,
                  hosts: list[str] | None = None) -> list[str]:
        """Insert tasks just made by `domain.task.new_task`, each holding
        `reservation` on its instance (`hosts[i]` when given: a Fargate
        task's host, which its document does not show); returns their wire
        documents.  Those tasks are in the Task shape already
        (tests/domain/test_task_shape.py keeps it so), so they are encoded
        without the shape walk."""
        reserved = dump(reservation)
        documents = [dump(task) for task in tasks]
        self._db.executemany(
            "INSERT INTO tasks (arn, cluster_arn, instance_arn, family, started_by, service_name, "
            "desired_status, last_status, launch_type, client_token, stopped_at, reservation, doc, "
            "task_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    task["taskArn"],
                    task["clusterArn"],
                    hosts[i] if hosts else task.get("containerInstanceArn"),
                    task["taskDefinitionArn"].rsplit("/", 1)[1].rsplit(":", 1)[0],
                    task.get("startedBy"),
                    scheduler_of_group(task.get("group")),
                    task["desiredStatus"],
                    task["lastStatus"],
                    task.get("launchType", "EC2"),
                    client_token,
                    task.get("stoppedAt"),
                    reserved,
                    document,
                    task.get("group"),
                )
                for i, (task, document) in enumerate(zip(tasks, documents, strict=True))
            ],
        )
        return documents

    def put_task(self, task: Doc) -> str:
        """Store a changed task (statuses, stop, the document); returns its
        wire document."""
        doc = self._encode_task(task)
        self._db.execute(
            "UPDATE tasks SET desired_status = ?, last_status = ?, stopped_at = ?, doc = ? WHERE arn = ?",
            (task["desiredStatus"], task["lastStatus"], task.get("stoppedAt"), doc, task["taskArn"]),
        )
        return doc

    def get_task(self, arn: str) -> Doc | None:
        return self._doc("SELECT doc FROM tasks WHERE arn = ?", (arn,))

    def task_instance(self, arn: str) -> str | None:
        """The instance a task's row names (a Fargate task's host, which its document does not show)."""
        row = self._db.execute("SELECT instance_arn FROM tasks WHERE arn = ?", (arn,)).fetchone()
        return row[0] if row else None

    def task_reservation(self, arn: str) -> Doc:
        row = self._db.execute("SELECT reservation FROM tasks WHERE arn = ?", (arn,)).fetchone()
        return json.loads(row[0]) if row else {}

    def get_task_documents(self, arns: list[str]) -> dict[str, str]:
        """ARN → the task's wire document (JSON text), for the tasks that exist."""
        if not arns:
            return {}
        marks = ",".join("?" * len(arns))
        rows = self._db.execute(f"SELECT arn, doc FROM tasks WHERE arn IN ({marks})", arns)
        return dict(rows.fetchall())

    def tasks_by_client_token(self, cluster_arn: str, token: str) -> list[Doc]:
        return self._docs(
            "SELECT doc FROM tasks WHERE cluster_arn = ? AND client_token = ? ORDER BY seq",
            (cluster_arn, token),
        )

    def live_tasks_on(self, instance_arn: str) -> list[Doc]:
        return self._docs(
            "SELECT doc FROM tasks WHERE instance_arn = ? AND last_status != 'STOPPED' "
            "ORDER BY seq",
            (instance_arn,),
        )

    def task_with_attachment(self, cluster_arn: str, attachment_id: str) -> Doc | None:
        """The cluster's task (stopped ones included) that has the attachment
        `attachment_id`: a scan, for the rare SubmitAttachmentStateChanges."""
        needle = json.dumps(attachment_id)
        for doc in self._docs(f"SELECT doc FROM tasks WHERE cluster_arn = ? AND {self.TEXT_POSITION}(doc, ?) > 0 "
                              "ORDER BY seq", (cluster_arn, needle)):
            if any(a.get("id") == attachment_id for a in doc.get("attachments") or []):
                return doc
        return None

    def live_holdings(self, cluster_arn: str) -> Iterable[tuple[str, Doc, str | None]]:
        """(instance ARN, reservation, group) of each live task on the cluster's
        instances: by the instance, not the task's cluster (Fargate tasks of
        any cluster hold capacity on the Fargate hosts of this one)."""
        rows = self._db.execute(
            "SELECT instance_arn, reservation, task_group FROM tasks WHERE instance_arn >= ? "
            f"AND instance_arn < ? AND {LIVE}",
            _instance_range(cluster_arn),
        )
        return [(arn, json.loads(reservation), group) for arn, reservation, group in rows]

    def live_holdings_of(self, instance_arns: list[str]) -> Iterable[tuple[str, Doc, str | None]]:
        found: list[tuple[str, Doc, str | None]] = []
        for i in range(0, len(instance_arns), IN_CHUNK):
            chunk = instance_arns[i:i + IN_CHUNK]
            rows = self._db.execute(
                "SELECT instance_arn, reservation, task_group FROM tasks "
                f"WHERE instance_arn IN ({','.join('?' * len(chunk))}) AND {LIVE}",
                tuple(chunk),
            )
            found += [(arn, json.loads(reservation), group) for arn, reservation, group in rows]
        return found

    def list_task_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """Tasks of a cluster matching column filters, in creation order."""
        return self._page_by_seq("tasks", cluster_arn, ["seq > ?"], filters, after_seq, limit)

    def purge_stopped_tasks(self, before: float, limit: int = 500) -> int:
        """Delete at most `limit` tasks stopped before `before` (and their tags);
        how many.  The janitor calls it until it purges fewer, one transaction
        each, so a large purge never holds the event loop for long."""
        arns = [
            (r[0],)
            for r in self._db.execute(
                "SELECT arn FROM tasks WHERE stopped_at IS NOT NULL AND stopped_at < ? LIMIT ?", (before, limit)
            )
        ]
        self._db.executemany("DELETE FROM tasks WHERE arn = ?", arns)
        self._db.executemany("DELETE FROM tags WHERE resource_arn = ?", arns)
        return len(arns)


def _instance_range(cluster_arn: str) -> tuple[str, str]:
    """The ARNs of a cluster's instances lie in [low, high): they share a prefix."""
    prefix = cluster_arn.replace(":cluster/", ":container-instance/", 1) + "/"
    return prefix, prefix[:-1] + "0"  # "0" follows "/"
