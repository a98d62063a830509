"""The PostgreSQL store: the unit of work and one repository per aggregate,
each in a module of its own, combined into the one object the server holds
(`store.interface.Store`)."""

from __future__ import annotations

from collections.abc import Callable

from ...domain.documents import Doc
from .clusters import PostgresClusters
from .instances import PostgresInstances
from .records import PostgresRecords
from .services import PostgresServices
from .tags import PostgresTags
from .task_definitions import PostgresTaskDefinitions
from .tasks import PostgresTasks


class PostgresStore(
    PostgresClusters, PostgresTaskDefinitions, PostgresInstances, PostgresTasks, PostgresServices, PostgresTags
):
    """`dsn` is a libpq URL (postgresql://USER[:PASS]@HOST:PORT/DB); `encode_task`
    turns a changed task into its wire document (JSON), as for SQLite."""

    def __init__(self, dsn: str, encode_task: Callable[[Doc], str]) -> None:
        super().__init__(dsn)
        self._encode_task = encode_task
        self._definitions = {}
        self._definitions_generation = -1
        self.records = PostgresRecords(self._db)  # deployments, task sets, daemons (store/records.py)
