"""The store's interface: what the layers above may ask of persistent state.

Each aggregate has a repository Protocol; `Store` is all of them plus the unit
of work (`UnitOfWork`) that owns transactions and durability.  Callers type
against these Protocols, never against a backend, so a second backend
(PostgreSQL) plugs in by implementing them and passing
`tests/store/test_contract.py`.

Documents are kept in their ECS wire shape (`Doc`).  Tasks are stored as the
JSON text of their wire document so DescribeTasks answers without decoding;
the encoder is given to the backend by whoever opens it (`encode_task`), so
the store knows nothing of the protocol layer.

Container instances' free capacity and which task groups run where are not
the store's business: the scheduler keeps them (`scheduler.placement_cache`),
derived from what `InstanceRepository.instance_documents` and
`TaskRepository.live_holdings` return, and dropped whenever
`UnitOfWork.generation` changes.  ECS attributes target container instances
only, so they are members of the instance document (no repository of their
own).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from ..domain.documents import Doc
from ..domain.service_record import SchedulerMemory
from .logs import LogRepository
from .parameters import ParameterRepository
from .secrets import SecretRepository

# A task row as the service scheduler reads it without decoding documents:
# (ARN, startedBy, instance ARN, desiredStatus, lastStatus).
ServiceTaskRow = tuple[str, "str | None", "str | None", str, str]


class StoreError(Exception):
    """The store cannot be used as it is (the message is one line)."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Portside than this one."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now (it is down, restarting, or the
    network to it is cut): nothing was changed.  Answered as AWS's
    ServerException (which SDKs retry); the next call reconnects."""

    server_fault = True  # see protocol/dispatch.py

    def __init__(self, cause: str) -> None:
        self.message = f"The database is unreachable ({cause}); nothing was changed. Retry the call."
        super().__init__(self.message)


@dataclass(frozen=True)
class PoolStats:
    """A connection pool's figures, for `/metrics` (PostgreSQL: `PostgresStore.pool_stats`,
    from psycopg_pool's `get_stats`; SQLite has no pool)."""

    size: int  # connections open, lent out, or being connected
    available: int  # idle in the pool, ready to lend
    waiting: int  # callers waiting for one
    opened: int  # connects attempted since start
    errors: int  # connects that failed
    lost: int  # connections found broken when lent, or given back broken (each replaced)


class NotLeader(StoreError):
    """A fenced transaction's leader lease is no longer this server's (it
    expired, or another server holds it): the transaction was rolled back."""


class UnitOfWork(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit of change; nested uses join the outer one.  A
        change is acknowledged only after `durable()` (group commit under a
        running loop; at once without one)."""
        ...

    async def durable(self) -> None:
        """Return once everything this process has written so far is committed."""
        ...

    async def settled(self) -> None:
        """Return once no COMMIT is in flight (a request waits here before
        using the store, instead of blocking the loop)."""
        ...

    async def wait_unlocked(self, timeout: float) -> None:
        """After a `StoreBusy` (another process holds the write lock, nothing
        was done): return once the lock is free, waiting off the event loop;
        StoreWriteFailed naming the lock when it is still held after `timeout`."""
        ...

    def commit(self) -> None:
        """Make the open batch durable now, on this thread."""
        ...

    def generation(self) -> int:
        """A number that changes whenever what was read before may no longer
        be true: another process committed, or a transaction was rolled back.
        Caches above the store drop what they hold when it changes."""
        ...

    def instance_changed(self, arn: str) -> None:
        """The open transaction changed what this container instance holds
        (a task placed or stopped on it) or its document.  Servers sharing the
        database reload only such instances when this one commits
        (`changed_instances`), instead of dropping everything; a store only one
        server uses ignores it."""
        ...

    def holding_changed(self, instance_arn: str, reservation: Doc, group: str, times: int) -> None:
        """The open transaction placed `times` tasks of `group` holding
        `reservation` on the instance (negative: stopped them).  Servers
        sharing the database apply the same to their placement caches
        (`changed_holdings`) without reading tasks; a store only one server
        uses ignores it."""
        ...

    def changed_holdings(self) -> list[tuple[str, Doc, str, int]]:
        """What other servers placed and stopped (`holding_changed`) since the
        last call, when nothing else changed (else `generation` moved), in
        the order they committed.  Always empty for a store only one server uses."""
        ...

    def changed_instances(self) -> set[str]:
        """The instances other servers changed (`instance_changed`) since the
        last call, when nothing else changed (else `generation` moved): the
        placement cache reloads these.  Always empty for a store only one
        server uses."""
        ...

    def schema_version(self) -> int:
        ...

    def pool_stats(self) -> PoolStats | None:
        """The connection pool's figures, for `/metrics`; None for a store
        without one (SQLite's single file needs none)."""
        ...

    def fenced(self, token: int | None) -> AbstractContextManager[None]:
        """Transactions opened inside are the leader's (the service scheduler,
        the janitor): each checks, before it writes, that the leader lease
        still carries `token` and holds it until it commits, else raises
        `NotLeader`.  `None` (a store only one server uses) checks nothing."""
        ...

    def close(self) -> None:
        ...


class ClusterRepository(Protocol):
    def get_cluster(self, name: str) -> Doc | None: ...
    def put_cluster(self, doc: Doc) -> None: ...
    def list_cluster_arns(self, after: str, limit: int) -> list[str]: ...

    def cluster_task_counts(self, cluster_arn: str) -> dict[str, int]:
        """Live tasks of a cluster by lastStatus."""
        ...

    def cluster_task_counts_by_launch_type(self, cluster_arn: str) -> dict[tuple[str, str], int]:
        """Live tasks of a cluster by (launchType, lastStatus)."""
        ...


class TaskDefinitionRepository(Protocol):
    def last_revision(self, family: str) -> int: ...
    def put_task_definition(self, doc: Doc) -> None: ...

    def get_task_definition(self, family: str, revision: int | None) -> Doc | None:
        """One revision, or the latest ACTIVE one when revision is None."""
        ...

    def list_task_definition_arns(
        self, family: str | None, status: str, descending: bool, offset: int, limit: int
    ) -> list[str]: ...

    def list_families(self, prefix: str, status: str, offset: int, limit: int) -> list[str]: ...


class InstanceRepository(Protocol):
    def put_instance(self, doc: Doc) -> None:
        """Insert or update (its `remainingResources` is not kept: it is derived)."""
        ...

    def instance_documents(self, cluster_arn: str) -> list[tuple[str, Doc]]:
        """(ARN, document) of every instance of the cluster, in registration order."""
        ...

    def instance_documents_of(self, arns: list[str]) -> list[tuple[str, Doc]]:
        """(ARN, document) of these instances (those that exist), in registration order."""
        ...

    def count_instances(self, cluster_arn: str, statuses: tuple[str, ...]) -> int: ...

    def list_instance_arns(
        self, cluster_arn: str, statuses: tuple[str, ...], after_seq: int, limit: int
    ) -> list[tuple[int, str]]: ...

    def instance_task_counts(self, instance_arns: list[str]) -> dict[tuple[str, str], int]:
        """(instance ARN, lastStatus) → number of live tasks."""
        ...

    def running_task_counts(self, cluster_arn: str) -> dict[str, int]:
        """Instance ARN → its RUNNING tasks."""
        ...

    def mark_agent_polls(self, arn: str) -> None:
        """An agent polls for this instance (kept beside its document, never in it)."""
        ...

    def agent_polled_instances(self) -> set[str]:
        """The instances an agent has ever polled for."""
        ...


class TaskRepository(Protocol):
    def add_tasks(self, tasks: list[Doc], reservation: Doc, client_token: str | None = None,
                  hosts: list[str] | None = None) -> list[str]:
        """Insert new tasks (already in the Task wire shape), each holding
        `reservation` on its instance (`hosts[i]` when given: a Fargate task's
        host, not in its document); returns their wire documents (JSON)."""
        ...

    def put_task(self, task: Doc) -> str:
        """Store a changed task; returns its wire document (JSON)."""
        ...

    def get_task(self, arn: str) -> Doc | None: ...
    def task_instance(self, arn: str) -> str | None:
        """The instance the task's row names (for a Fargate task, its host)."""
        ...

    def task_reservation(self, arn: str) -> Doc: ...

    def get_task_documents(self, arns: list[str]) -> dict[str, str]:
        """ARN → wire document (JSON text), for the tasks that exist."""
        ...

    def tasks_by_client_token(self, cluster_arn: str, token: str) -> list[Doc]: ...
    def live_tasks_on(self, instance_arn: str) -> list[Doc]: ...

    def task_with_attachment(self, cluster_arn: str, attachment_id: str) -> Doc | None:
        """The cluster's task (stopped ones included) that has this attachment."""
        ...

    def live_holdings(self, cluster_arn: str) -> Iterable[tuple[str, Doc, str | None]]:
        """(instance ARN, reservation, group) of each live task on the cluster's
        instances (whatever cluster the task is in: Fargate hosts)."""
        ...

    def live_holdings_of(self, instance_arns: list[str]) -> Iterable[tuple[str, Doc, str | None]]:
        """The same, of the live tasks on these instances only."""
        ...

    def list_task_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]:
        """Tasks of a cluster matching column filters, in creation order."""
        ...

    def purge_stopped_tasks(self, before: float, limit: int = 500) -> int: ...


class ServiceRepository(Protocol):
    def get_service(self, arn: str) -> Doc | None: ...

    def put_service(self, doc: Doc, memory: SchedulerMemory | None = None) -> None:
        """Insert or update the Service document; the scheduler's memory is
        written when given, else kept (an empty one for a new service)."""
        ...

    def get_service_memory(self, arn: str) -> SchedulerMemory:
        """What the service scheduler remembers of the service (kept beside
        the document, never in it); a fresh record when there is none."""
        ...

    def list_service_arns(
        self, cluster_arn: str, filters: dict[str, str], after_seq: int, limit: int
    ) -> list[tuple[int, str]]: ...

    def count_services(self, cluster_arn: str, statuses: tuple[str, ...]) -> int: ...

    def count_services_by_launch_type(self, cluster_arn: str, statuses: tuple[str, ...]) -> dict[str, int]:
        """A cluster's services in these statuses, by launchType (EC2 when it has none)."""
        ...

    def services_to_reconcile(self) -> list[Doc]:
        """Every ACTIVE or DRAINING service, oldest first."""
        ...

    def live_service_arns(self) -> list[str]:
        """The ARNs of every ACTIVE or DRAINING service, oldest first (no documents decoded)."""
        ...

    def service_tasks(self, cluster_arn: str, service_name: str) -> list[ServiceTaskRow]:
        """The service's tasks not yet STOPPED, in creation order."""
        ...

    def service_tasks_stopped_since(self, cluster_arn: str, service_name: str, since: float) -> list[Doc]:
        """The service's tasks that reached STOPPED after `since`, oldest stop first."""
        ...


class TagRepository(Protocol):
    def get_tags(self, arn: str) -> list[dict[str, str]]: ...

    def put_tags(self, arn: str, tags: list[dict[str, str]]) -> None: ...
    def remove_tags(self, arn: str, keys: list[str]) -> None: ...


class RecordRepository(Protocol):
    """Keyed documents by kind, for the families that need no query beyond
    "by key" and "by parent, in creation order" (see store/records.py)."""

    def get(self, kind: str, key: str) -> Doc | None: ...
    def put(self, kind: str, key: str, parent: str, status: str, doc: Doc) -> None: ...
    def delete(self, kind: str, key: str) -> None: ...

    def children(self, kind: str, parent: str, statuses: Iterable[str] | None = None,
                 after_seq: int = 0, limit: int = -1) -> list[tuple[int, Doc]]: ...

    def of_kind(self, kind: str, statuses: Iterable[str] | None = None) -> list[Doc]: ...


class Coordination(Protocol):
    """What several servers on one database share outside the unit of work,
    never on the request connection (PostgreSQL only: each call borrows one
    from the server's pool; one server on SQLite needs none of it).  Each call
    blocks; StoreUnavailable when the database cannot be reached."""

    def renew_lease(self, holder: str, ttl_s: float) -> int | None:
        """Take or extend the leader lease for `holder`; its fencing token
        while `holder` leads, None while another server holds it."""
        ...

    def resign(self, holder: str) -> None:
        """Let the lease go now (a clean shutdown), if `holder` has it."""
        ...

    def share_agent_polls(self, polled: dict[str, float]) -> dict[str, float]:
        """Record when agents last polled this server (instance ARN → time);
        returns the latest poll of every instance, on any server."""
        ...

    def listen(self, on_notice: NoticeHandler, stopping: StopFlag) -> None:
        """Deliver every notice announced by any server (`PostgresStore.announce`) to
        `on_notice` until `stopping.is_set()`; reconnects by itself, calling
        `on_notice(None)` after each (re)connection: notices may have been missed."""
        ...

    def close(self) -> None:
        ...


class NoticeHandler(Protocol):
    def __call__(self, payload: str | None) -> None: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class Store(
    UnitOfWork,
    ClusterRepository,
    TaskDefinitionRepository,
    InstanceRepository,
    TaskRepository,
    ServiceRepository,
    TagRepository,
    Protocol,
):
    """Everything persistent, behind one unit of work."""

    @property
    def records(self) -> RecordRepository: ...  # read-only: an implementation may hold its own class
    @property
    def logs(self) -> LogRepository: ...  # CloudWatch Logs (store/logs.py)
    @property
    def secrets(self) -> SecretRepository: ...  # Secrets Manager (store/secrets.py)
    @property
    def parameters(self) -> ParameterRepository: ...  # SSM Parameter Store (store/parameters.py)
