"""What the shared repositories need of a backend (see the package's docstring)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...domain.documents import Doc

dump = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call
IN_CHUNK = 500  # values in one `IN (...)` list (SQLite allows 32,766 parameters, PostgreSQL 65,535)


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
