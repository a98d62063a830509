"""The PostgreSQL store: the unit of work and one repository per aggregate,
each in a module of its own, combined into the one object the server holds
(`store.interface.Store`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...domain.documents import Doc
from ..dialect import POSTGRES
from ..sealing import Sealer, load_or_create_key
from ..sql import SqlLogs, SqlParameters, SqlSecrets
from ..sql.key_check import check_key
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
    turns a changed task into its wire document (JSON), as for SQLite.
    `key_file` seals secret values and SecureString parameters (store/sealing.py):
    made on first use, and the same file on every server sharing the database
    (checked: another key is refused when the store opens)."""

    def __init__(self, dsn: str, encode_task: Callable[[Doc], str], key_file: Path) -> None:
        super().__init__(dsn)
        self._encode_task = encode_task
        self._definitions = {}
        self._definitions_generation = -1
        self._clusters = {}
        self._clusters_generation = -1
        self.records = PostgresRecords(self._db)  # deployments, task sets, daemons (store/records.py)
        # the other service families on the same port, sharing the unit of work
        try:
            sealer = Sealer(load_or_create_key(key_file))
            with self.transaction():
                check_key(self._db, POSTGRES, sealer, str(key_file), shared=True)
        except BaseException:
            self.close()
            raise
        self.logs = SqlLogs(self._db, POSTGRES)
        self.secrets = SqlSecrets(self._db, POSTGRES, sealer)
        self.parameters = SqlParameters(self._db, POSTGRES, sealer)
