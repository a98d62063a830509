"""What the shared repositories need of a backend (see the package's docstring)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...domain.documents import Doc
from ..dialect import Dialect
from ..sealing import Sealer

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call
IN_CHUNK = 500  # values in one `IN (...)` list (SQLite allows 32,766 parameters, PostgreSQL 65,535)


class StatementRepository:
    """A repository that writes its SQL with `?` markers and runs it on the
    store's connection in the backend's dialect (Logs, Secrets Manager, SSM)."""

    def __init__(self, db: Any, dialect: Dialect) -> None:
        self.db = db  # the store's connection
        self.d = dialect

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(self.d.sql(sql), args)


class SealedRepository(StatementRepository):
    """One whose values are sealed at rest (store/sealing.py)."""

    def __init__(self, db: Any, dialect: Dialect, sealer: Sealer) -> None:
        super().__init__(db, dialect)
        self.sealer = sealer


class SqlRepository:
    """The dialect's words, and (for the type checker only) the helpers
    each backend's database class defines."""

    TEXT_POSITION = "instr"  # position of one text in another (PostgreSQL: strpos)

    _db: Any  # the connection: execute / executemany with `?` parameters

    if TYPE_CHECKING:
        def generation(self) -> int: ...
        def _docs(self, sql: str, args: Iterable[Any] = ()) -> list[Doc]: ...
        def _doc(self, sql: str, args: Iterable[Any] = ()) -> Doc | None: ...
        def _count(self, table: str, cluster_arn: str, statuses: tuple[str, ...]) -> int: ...

        def _page_by_seq(self, table: str, cluster_arn: str, where: list[str], filters: dict[str, str],
                         after_seq: int, limit: int) -> list[tuple[int, str]]: ...
