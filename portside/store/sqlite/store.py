"""The SQLite store: the unit of work and one repository per aggregate,
each in a module of its own, combined into the one object the server holds
(`store.interface.Store`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...domain.documents import Doc
from ..dialect import SQLITE
from ..records import Records
from ..sealing import KEY_FILE, Sealer, load_or_create_key
from ..sql import SqlLogs, SqlParameters, SqlSecrets
from ..sql.key_check import check_key
from .clusters import SqliteClusters
from .instances import SqliteInstances
from .services import SqliteServices
from .tags import SqliteTags
from .task_definitions import SqliteTaskDefinitions
from .tasks import SqliteTasks


class SqliteStore(
    SqliteClusters, SqliteTaskDefinitions, SqliteInstances, SqliteTasks, SqliteServices, SqliteTags
):
    """`encode_task` turns a changed task into its wire document (JSON);
    the server passes the protocol layer's, so this package needs none of it."""

    def __init__(self, path: Path, encode_task: Callable[[Doc], str], key_file: Path | None = None) -> None:
        super().__init__(path)
        self._encode_task = encode_task
        self._definitions = {}
        self._definitions_generation = -1
        self._clusters = {}
        self._clusters_generation = -1
        self.records = Records(self._db)  # service deployments, task sets, daemons (store/records.py)
        # the other service families on the same port, sharing the unit of work
        key_file = key_file or path.parent / KEY_FILE  # default: beside the database (0600, made on first open)
        try:
            sealer = Sealer(load_or_create_key(key_file))
            with self.transaction():
                check_key(self._db, SQLITE, sealer, str(key_file))
            self.commit()
        except BaseException:
            self.close()
            raise
        self.logs = SqlLogs(self._db, SQLITE)
        self.secrets = SqlSecrets(self._db, SQLITE, sealer)
        self.parameters = SqlParameters(self._db, SQLITE, sealer)
