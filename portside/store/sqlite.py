"""The embedded store: SQLite in WAL mode with full fsync, so every change is
on disk before the API acknowledges it.

Writers take the database lock up front (`BEGIN IMMEDIATE`), so a transaction
that reads an instance's remaining resources and then books them cannot
interleave with another writer, in this process or any other.

Container instances and task definitions, read on every placement, are cached
in memory.  The cache stays true across processes: SQLite's `data_version`
changes whenever another connection commits, and a changed value empties the
cache before the next read (inside a write transaction nobody else can commit,
so what placement reads there is current).  A rolled-back transaction empties
it too.  Tasks are kept as their ECS wire document (produced through the
output shape when written), so describing them needs no decoding.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..domain.resources import Capacity, Reservation
from ..domain.status import Status
from ..protocol.serialize import wire_json
from .failures import StoreWriteFailed, WriteHealth, write_failure
from .records import Records
from .schema import PLACEMENT_SCHEMA, SCHEMA, SCHEMA_VERSION, SERVICES_SCHEMA

Doc = dict[str, Any]

# "last_status IN (...)" lets SQLite seek the live tasks in an index led by
# (cluster_arn, last_status) instead of stepping over the stopped ones.
LIVE = "last_status IN (" + ",".join(f"'{s.name}'" for s in Status if s is not Status.STOPPED) + ")"


# A batch that changed at least this many rows is committed on the committer
# thread; a smaller one on the loop thread (see `SqliteStore._commit_batch`).
BACKGROUND_COMMIT_ROWS = 16

_dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def _service_of(group: str | None) -> str | None:
    """The service a task belongs to, by its group (`service:NAME`)."""
    return group[len("service:") :] if group and group.startswith("service:") else None


_DEFINITIONS_CACHED = 1024  # task definition revisions kept parsed in memory (each ≤ 64 KiB)

class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db = _Guarded(self._conn, self._settle)
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portside-commit")
        self._committing: _Batch | None = None
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        self._db.executescript(SERVICES_SCHEMA)
        self._add_task_group_column()
        self._db.executescript(PLACEMENT_SCHEMA)
        self.records = Records(self._db)  # service deployments, task sets, daemons (store/records.py)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._in_tx = False
        self._batch: _Batch | None = None
        self._data_version = -1
        self._instances: dict[str, dict[str, Doc]] = {}  # cluster ARN → ARN → doc
        self._held: dict[str, Capacity] = {}  # instance ARN → what its live tasks hold
        self._free: dict[str, Capacity] = {}  # instance ARN → registered less held
        self._stale: set[str] = set()  # instances whose cached remainingResources lags _free
        # cluster ARN → task group → instance ARN → live tasks of the group there
        self._groups: dict[str, dict[str, Counter[str]]] = {}
        self._pools: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (cluster, statuses) → ARNs
        self._definitions: dict[tuple[str, int | None], Doc] = {}
        self.health = WriteHealth(str(path))  # whether writes succeed (GET /health)

    def close(self) -> None:
        self.commit()
        self._committer.shutdown()
        self._conn.close()

    def _add_task_group_column(self) -> None:
        """Databases made before tasks carried `task_group` get it, filled in."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
        if "task_group" not in columns:
            self._db.execute("ALTER TABLE tasks ADD COLUMN task_group TEXT")
            self._db.execute("UPDATE tasks SET task_group = json_extract(doc, '$.group')")

    def _fresh(self) -> None:
        """Drop the caches if another connection has committed since we looked."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._forget()

    def _forget(self) -> None:
        self._instances.clear()
        self._held.clear()
        self._free.clear()
        self._stale.clear()
        self._groups.clear()
        self._pools.clear()
        self._definitions.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of change; nested uses join the outer one.

        Group commit: under a running event loop, the transactions of the
        requests handled in one loop iteration share one database transaction
        (each in a savepoint of its own, so a failing request undoes only its
        own changes) and one fsync, committed as soon as the loop is free.
        Callers make a change acknowledged only after `durable()`.  Without a
        running loop every transaction commits at once."""
        if self._in_tx:
            yield
            return
        if self._batch is None:
            self._db.execute("BEGIN IMMEDIATE")
            self._batch = _Batch(changes_before=self._conn.total_changes)
            self._fresh()
        self._db.execute("SAVEPOINT request")
        self._in_tx = True
        try:
            yield
        except BaseException as exc:
            if self._conn.in_transaction:
                self._db.execute("ROLLBACK TO request")
                self._db.execute("RELEASE request")
                self._forget()
            else:  # SQLite rolled the whole batch back itself (disk full, I/O error)
                batch, self._batch = self._batch, None
                self._forget()
                if batch is not None:
                    self._finish(batch, exc)
            failed = write_failure(exc)
            if failed is not None:
                self.health.failed(failed)
                raise failed from exc
            raise
        else:
            self._db.execute("RELEASE request")
        finally:
            self._in_tx = False
            self._schedule_commit()

    def _schedule_commit(self) -> None:
        batch = self._batch
        if batch is None or batch.done is not None:  # already scheduled
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.commit()
            return
        batch.done = loop.create_future()
        loop.call_soon(self._commit_batch, loop)

    def _commit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """COMMIT the open batch: a small one right here, a big one on the
        committer thread.  A COMMIT that writes a handful of rows (a StopTask,
        an agent's report, one RunTask) costs less than handing it to a thread
        and back on a busy machine; one that writes many (the new tasks of
        several RunTask calls) is worth overlapping: while SQLite writes and
        fsyncs (the GIL released), the loop goes on reading and checking the
        next requests.  Any use of the connection meanwhile waits
        for that COMMIT to end (see `_Guarded`), so only one thread uses it
        at a time."""
        batch = self._batch
        if batch is None:
            return
        if self._conn.total_changes - batch.changes_before < BACKGROUND_COMMIT_ROWS:
            self.commit()
            return
        self._batch = None
        self._committing = batch
        batch.commit = self._committer.submit(self._conn.execute, "COMMIT")
        batch.commit.add_done_callback(lambda _: loop.call_soon_threadsafe(self._committed, batch))

    def _settle(self) -> None:
        """Wait (blocking) for a COMMIT in flight to end, and account for it."""
        batch = self._committing
        if batch is not None and batch.commit is not None:
            concurrent.futures.wait([batch.commit])
            self._committed(batch)

    def _committed(self, batch: "_Batch") -> None:
        """A background COMMIT has ended: answer its requests (or fail them,
        rolled back).  Runs once per batch, whichever of the loop callback
        and `_settle` comes first."""
        if batch.finished:
            return
        batch.finished = True
        self._committing = None
        assert batch.commit is not None
        self._finish(batch, batch.commit.exception())

    def _finish(self, batch: "_Batch", error: BaseException | None) -> None:
        """Answer the batch's requests, or, when its COMMIT failed, roll back
        what it held and fail them."""
        if error is not None:
            self._conn.rollback()
            self._forget()
            failed = write_failure(error)
            if failed is not None:
                self.health.failed(failed)
                error = failed
        else:
            self.health.succeeded()
        if batch.done is not None and not batch.done.done():
            if error is None:
                batch.done.set_result(None)
            else:
                batch.done.set_exception(error)
                batch.done.exception()  # its requests get it; unawaited, it is not "never retrieved"

    def commit(self) -> None:
        """Make the open batch durable now, on this thread (COMMIT with a full fsync)."""
        self._settle()
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._finish(batch, exc)
            if batch.done is None:  # no request waits for it: the caller gets the error
                raise write_failure(exc) or exc
            return
        self._finish(batch, None)

    async def settled(self) -> None:
        """Return once no COMMIT is in flight: a request about to use the
        store waits here instead of blocking the loop in `_settle`."""
        while self._committing is not None:
            done = self._committing.done
            assert done is not None
            try:
                await asyncio.shield(done)
            except Exception:
                pass  # the requests of that batch get the error; this one may go on

    async def durable(self) -> None:
        """Return once everything this process has written so far is committed:
        a request may answer only then (it may have read what is not yet)."""
        batch = self._batch or self._committing
        if batch is not None and batch.done is not None:
            await asyncio.shield(batch.done)

    def _docs(self, sql: str, args: Iterable[Any] = ()) -> list[Doc]:
        return [json.loads(row[0]) for row in self._db.execute(sql, tuple(args))]

    def _doc(self, sql: str, args: Iterable[Any] = ()) -> Doc | None:
        row = self._db.execute(sql, tuple(args)).fetchone()
        return json.loads(row[0]) if row else None

    # clusters ---------------------------------------------------------------

    def get_cluster(self, name: str) -> Doc | None:
        return self._doc("SELECT doc FROM clusters WHERE name = ?", (name,))

    def put_cluster(self, doc: Doc) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO clusters (name, arn, status, doc) VALUES (?, ?, ?, ?)",
            (doc["clusterName"], doc["clusterArn"], doc["status"], _dump(doc)),
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

    def count_instances(self, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        return self._count("container_instances", cluster_arn, statuses)

    def _count(self, table: str, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        """Rows of a cluster in these statuses (`table` comes from the store, never a request)."""
        marks = ",".join("?" * len(statuses))
        row = self._db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE cluster_arn = ? AND status IN ({marks})",
            (cluster_arn, *statuses),
        ).fetchone()
        return row[0]

    # task definitions --------------------------------------------------------

    def last_revision(self, family: str) -> int:
        row = self._db.execute(
            "SELECT MAX(revision) FROM task_definitions WHERE family = ?", (family,)
        ).fetchone()
        return row[0] or 0

    def put_task_definition(self, doc: Doc) -> None:
        self._definitions.clear()
        self._db.execute(
            "INSERT OR REPLACE INTO task_definitions (arn, family, revision, status, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            (doc["taskDefinitionArn"], doc["family"], doc["revision"], doc["status"], _dump(doc)),
        )

    def get_task_definition(self, family: str, revision: int | None) -> Doc | None:
        """One revision, or the latest ACTIVE one when revision is None (cached;
        callers must not change what they get)."""
        if not self._in_tx:
            self._fresh()
        key = (family, revision)
        found = self._definitions.get(key)
        if found is None:
            # Only what exists is remembered, and only so much of it: a flood of
            # lookups for names that do not exist must not pin memory.
            found = self._load_task_definition(family, revision)
            if found is None:
                return None
            if len(self._definitions) >= _DEFINITIONS_CACHED:
                self._definitions.clear()
            self._definitions[key] = found
        return dict(found)

    def _load_task_definition(self, family: str, revision: int | None) -> Doc | None:
        if revision is None:
            return self._doc(
                "SELECT doc FROM task_definitions WHERE family = ? AND status = 'ACTIVE' "
                "ORDER BY revision DESC LIMIT 1",
                (family,),
            )
        return self._doc(
            "SELECT doc FROM task_definitions WHERE family = ? AND revision = ?",
            (family, revision),
        )

    def list_task_definition_arns(
        self, family: str | None, status: str, descending: bool, offset: int, limit: int
    ) -> list[str]:
        order = "DESC" if descending else "ASC"
        where, args = "status = ?", [status]
        if family is not None:
            where += " AND family = ?"
            args.append(family)
        rows = self._db.execute(
            f"SELECT arn FROM task_definitions WHERE {where} "
            f"ORDER BY family {order}, revision {order} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [r[0] for r in rows]

    def list_families(self, prefix: str, status: str, offset: int, limit: int) -> list[str]:
        having = {
            "ACTIVE": "HAVING SUM(status = 'ACTIVE') > 0",
            "INACTIVE": "HAVING SUM(status = 'ACTIVE') = 0",
            "ALL": "",
        }[status]
        rows = self._db.execute(
            "SELECT family FROM task_definitions WHERE family LIKE ? ESCAPE '\\' "
            f"GROUP BY family {having} ORDER BY family LIMIT ? OFFSET ?",
            (_like_prefix(prefix), limit, offset),
        )
        return [r[0] for r in rows]

    # container instances -----------------------------------------------------

    def _cluster_instances(self, cluster_arn: str) -> dict[str, Doc]:
        """The cluster's instance documents, cached (their `remainingResources`
        may lag: readers outside the store go through `_current`).

        What live tasks hold, and which task groups they are in, is derived
        here from the tasks' rows and then kept up to date by `hold`; it is
        never written on placement.  The tasks' reservations are the durable
        truth and a restart derives it all again."""
        if not self._in_tx:
            self._fresh()
        cached = self._instances.get(cluster_arn)
        if cached is None:
            held: dict[str, Capacity] = {}
            groups: dict[str, Counter[str]] = {}
            for arn, reservation, group in self._db.execute(
                # by the instance, not the task's cluster: Fargate tasks of any
                # cluster hold capacity on the Fargate hosts of this one
                "SELECT instance_arn, reservation, task_group FROM tasks WHERE instance_arn >= ? "
                f"AND instance_arn < ? AND {LIVE}",
                _instance_range(cluster_arn),
            ):
                held.setdefault(arn, Capacity.empty()).hold(Reservation.from_doc(json.loads(reservation)))
                groups.setdefault(group or "", Counter())[arn] += 1
            self._held.update(held)
            self._groups[cluster_arn] = groups
            rows = self._db.execute(
                "SELECT arn, doc FROM container_instances WHERE cluster_arn = ? ORDER BY seq",
                (cluster_arn,),
            )
            cached = self._instances[cluster_arn] = {}
            for arn, doc in rows:
                cached[arn] = self._with_remaining(json.loads(doc))
        return cached

    def _with_remaining(self, doc: Doc) -> Doc:
        """The document with `remainingResources` as the instance's free capacity now."""
        arn = doc["containerInstanceArn"]
        free = self._free[arn] = Capacity.free(doc["registeredResources"], self._held.get(arn))
        doc["remainingResources"] = free.to_resources()
        self._stale.discard(arn)
        return doc

    def _current(self, cached: dict[str, Doc], arn: str) -> Doc:
        """The cached document of `arn`, its remainingResources brought up to date."""
        doc = cached[arn]
        if arn in self._stale:
            doc = cached[arn] = self._with_remaining(dict(doc))
        return doc

    def get_instance(self, arn: str) -> Doc | None:
        """A shallow copy of the instance's document: callers replace its
        members (never change them in place) and put it back."""
        cluster_arn = _instance_cluster(arn)
        cached = self._cluster_instances(cluster_arn) if cluster_arn else {}
        return dict(self._current(cached, arn)) if arn in cached else None

    def put_instance(self, doc: Doc) -> None:
        """Insert or update; bumps the version other schedulers check."""
        self._db.execute(
            "INSERT INTO container_instances (arn, cluster_arn, status, version, doc) "
            "VALUES (?, ?, ?, 1, ?) ON CONFLICT (arn) DO UPDATE SET "
            "status = excluded.status, doc = excluded.doc, version = version + 1",
            (doc["containerInstanceArn"], doc["clusterArn"], doc["status"],
             _dump({k: v for k, v in doc.items() if k != "remainingResources"})),
        )
        cached = self._cluster_instances(doc["clusterArn"])
        before = cached.get(doc["containerInstanceArn"])
        if before is None or before["status"] != doc["status"]:  # membership changed
            for key in [k for k in self._pools if k[0] == doc["clusterArn"]]:
                del self._pools[key]
        cached[doc["containerInstanceArn"]] = self._with_remaining(dict(doc))

    def free_capacity(self, instance_arn: str) -> Capacity | None:
        """The instance's free capacity now, as a copy placement may debit."""
        cluster_arn = _instance_cluster(instance_arn)
        if cluster_arn is None or instance_arn not in self._cluster_instances(cluster_arn):
            return None
        return self._free[instance_arn].copy()

    def hold(self, instance_arn: str, reservation: Reservation, group: str,
             release: bool = False, times: int = 1) -> None:
        """`times` tasks of `group` placed on (or, with release, stopped on)
        the instance: its free capacity and group counts follow.  Call it
        after writing the task rows: when the cluster is not cached yet,
        loading it derives both from those rows, and the change must not be
        applied a second time."""
        cluster_arn = _instance_cluster(instance_arn)
        if cluster_arn is None:
            return
        if cluster_arn not in self._instances:
            self._cluster_instances(cluster_arn)
            return
        held = self._held.setdefault(instance_arn, Capacity.empty())
        free = self._free.get(instance_arn)  # None only for an instance not (or no longer) registered
        for _ in range(times):
            if release:
                held.unhold(reservation)
            else:
                held.hold(reservation)
                if free is not None:
                    free.reserve(reservation)
        if free is not None:
            if release:  # recounted: registered ports stay in use whatever tasks give back
                registered = self._instances[cluster_arn][instance_arn]["registeredResources"]
                self._free[instance_arn] = Capacity.free(registered, held)
            self._stale.add(instance_arn)
        counts = self._groups[cluster_arn].setdefault(group, Counter())
        counts[instance_arn] += -times if release else times
        if counts[instance_arn] <= 0:
            del counts[instance_arn]
            if not counts:
                del self._groups[cluster_arn][group]

    def list_instances(self, cluster_arn: str, statuses: tuple[str, ...]) -> list[Doc]:
        """The cluster's instances in these statuses, in registration order.
        Shared with the cache: read them, or copy before changing."""
        cached = self._cluster_instances(cluster_arn)
        return [self._current(cached, a) for a, d in list(cached.items()) if d["status"] in statuses]

    def instance_pool(self, cluster_arn: str, statuses: tuple[str, ...]) -> tuple[list[str], dict[str, Doc]]:
        """The ARNs of the cluster's instances in these statuses, in
        registration order, and the shared ARN → document map to read them
        from (read only; their remainingResources may lag: placement reads
        `free_capacity`).  The ARN list is kept until an instance joins or
        changes status, so placement need not walk every instance per call."""
        cached = self._cluster_instances(cluster_arn)
        key = (cluster_arn, statuses)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = [a for a, d in cached.items() if d["status"] in statuses]
        return pool, cached

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

    # tasks -------------------------------------------------------------------

    def add_tasks(self, tasks: list[Doc], reservation: Doc, client_token: str | None = None,
                  hosts: list[str] | None = None) -> list[str]:
        """Insert tasks just made by `domain.task.new_task`, each holding
        `reservation` on its instance; returns their wire documents.  Those
        tasks are in the Task shape already (tests/domain/test_task_shape.py
        keeps it so), so they are encoded without the shape walk."""
        reserved = _dump(reservation)
        documents = [_dump(task) for task in tasks]
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
                    _service_of(task.get("group")),
                    task["desiredStatus"],
                    task["lastStatus"],
                    task.get("launchType", "EC2"),
                    client_token,
                    task.get("stoppedAt"),
                    reserved,
                    document,
                    task.get("group"),
                )
                for i, (task, document) in enumerate(zip(tasks, documents))
            ],
        )
        return documents

    def put_task(self, task: Doc) -> str:
        """Store a changed task (statuses, stop, the document); returns its
        wire document."""
        doc = task_json(task)
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
        for doc in self._docs("SELECT doc FROM tasks WHERE cluster_arn = ? AND instr(doc, ?) > 0 ORDER BY seq",
                              (cluster_arn, needle)):
            if any(a.get("id") == attachment_id for a in doc.get("attachments") or []):
                return doc
        return None

    def group_task_counts(self, cluster_arn: str, group: str) -> dict[str, int]:
        """Instance ARN → live tasks of `group` on it."""
        self._cluster_instances(cluster_arn)
        return dict(self._groups[cluster_arn].get(group, {}))

    def task_groups_on_instances(self, cluster_arn: str, groups: Iterable[str] | None) -> dict[str, set[str]]:
        """Instance ARN → the groups of its live tasks (only `groups` when given)."""
        self._cluster_instances(cluster_arn)
        by_group = self._groups[cluster_arn]
        found: dict[str, set[str]] = {}
        for group in by_group if groups is None else groups:
            for arn in by_group.get(group, ()):
                found.setdefault(arn, set()).add(group)
        return found

    def running_task_counts(self, cluster_arn: str) -> dict[str, int]:
        """Instance ARN → its RUNNING tasks (one probe of tasks_by_instance per instance)."""
        rows = self._db.execute(
            "SELECT t.instance_arn, COUNT(*) FROM container_instances AS i "
            "JOIN tasks AS t ON t.instance_arn = i.arn AND t.last_status = 'RUNNING' "
            "WHERE i.cluster_arn = ? GROUP BY t.instance_arn",
            (cluster_arn,),
        )
        return dict(rows.fetchall())

    def list_task_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """Tasks of a cluster matching column filters, in creation order."""
        return self._page_by_seq("tasks", cluster_arn, ["seq > ?"], filters, after_seq, limit)

    def _page_by_seq(
        self, table: str, cluster_arn: str, where: list[str], filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """(seq, ARN) of a cluster's rows past `after_seq` matching column filters
        (column names come from the handlers, never from the request)."""
        clauses = ["cluster_arn = ?", *where, *(f"{column} = ?" for column in filters)]
        rows = self._db.execute(
            f"SELECT seq, arn FROM {table} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (cluster_arn, after_seq, *filters.values(), limit),
        )
        return rows.fetchall()

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

    # tags --------------------------------------------------------------------

    def get_tags(self, arn: str) -> list[dict[str, str]]:
        rows = self._db.execute(
            "SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY rowid", (arn,)
        )
        return [{"key": k, "value": v} for k, v in rows]

    def count_tags(self, arn: str, new_keys: list[str]) -> int:
        """How many tags the resource would have with new_keys added."""
        existing = {r[0] for r in self._db.execute("SELECT key FROM tags WHERE resource_arn = ?", (arn,))}
        return len(existing | set(new_keys))

    def put_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        self._db.executemany(
            "INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
            [(arn, t["key"], t.get("value", "")) for t in tags],
        )

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        self._db.executemany(
            "DELETE FROM tags WHERE resource_arn = ? AND key = ?", [(arn, k) for k in keys]
        )

    # services (the service scheduler) ---------------------------------------

    def get_service(self, arn: str) -> Doc | None:
        return self._doc("SELECT doc FROM services WHERE arn = ?", (arn,))

    def put_service(self, doc: Doc) -> None:
        """Insert or update; re-creating a service of the same ARN replaces it."""
        self._db.execute(
            "INSERT INTO services (arn, cluster_arn, name, status, scheduling_strategy, launch_type, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
            "status = excluded.status, scheduling_strategy = excluded.scheduling_strategy, "
            "launch_type = excluded.launch_type, doc = excluded.doc",
            (doc["serviceArn"], doc["clusterArn"], doc["serviceName"], doc["status"],
             doc.get("schedulingStrategy", "REPLICA"), doc.get("launchType", "EC2"), _dump(doc)),
        )

    def list_service_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        return self._page_by_seq(
            "services", cluster_arn, ["status = 'ACTIVE'", "seq > ?"], filters, after_seq, limit
        )

    def count_services(self, cluster_arn: str, statuses: tuple[str, ...]) -> int:
        return self._count("services", cluster_arn, statuses)

    def services_to_reconcile(self) -> list[Doc]:
        """Every ACTIVE or DRAINING service, oldest first."""
        return self._docs("SELECT doc FROM services WHERE status IN ('ACTIVE', 'DRAINING') ORDER BY seq")

    def service_tasks(self, cluster_arn: str, service_name: str) -> list[tuple[str, str | None, str | None, str, str]]:
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


@dataclass
class _Batch:
    """The transactions waiting for one COMMIT."""

    changes_before: int  # the connection's total_changes when the batch began
    done: "asyncio.Future[None] | None" = None  # on the loop, once its COMMIT is scheduled: the requests await it
    commit: "concurrent.futures.Future[Any] | None" = None  # the background COMMIT
    finished: bool = False


class _Guarded:
    """The connection as the store's methods use it: each call first waits
    for a background COMMIT to end, so the connection is never used by two
    threads at once."""

    def __init__(self, conn: sqlite3.Connection, settle: Callable[[], None]) -> None:
        self._conn = conn
        self._settle = settle

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        self._settle()
        return self._conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        self._settle()
        return self._conn.executemany(sql, rows)

    def executescript(self, script: str) -> sqlite3.Cursor:
        self._settle()
        return self._conn.executescript(script)


def task_json(task: Doc) -> str:
    return wire_json("Task", task)


def _instance_range(cluster_arn: str) -> tuple[str, str]:
    """The ARNs of a cluster's instances lie in [low, high): they share a prefix."""
    prefix = cluster_arn.replace(":cluster/", ":container-instance/", 1) + "/"
    return prefix, prefix[:-1] + "0"  # "0" follows "/"


def _instance_cluster(arn: str) -> str | None:
    """The cluster ARN of a long-format container-instance ARN."""
    head, _, rest = arn.partition(":container-instance/")
    cluster, _, _ = rest.partition("/")
    return f"{head}:cluster/{cluster}" if head and cluster else None


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
