"""The keyed documents of store/records.py, in PostgreSQL: the same queries
(the connection takes SQLite's `?` parameters) with no negative LIMIT."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...domain.documents import Doc
from ..records import Records


class PostgresRecords(Records):
    def __init__(self, db: Any) -> None:
        super().__init__(db)

    def children(self, kind: str, parent: str, statuses: Iterable[str] | None = None,
                 after_seq: int = 0, limit: int = -1) -> list[tuple[int, Doc]]:
        found = super().children(kind, parent, statuses, after_seq, 2**62 if limit < 0 else limit)
        return [(int(seq), doc) for seq, doc in found]
