"""Documents of the resource families that need no query of their own beyond
"by key" and "by parent, in creation order": service deployment histories,
task sets, daemons, daemon task definitions and their deployments.

One table, `records`, keyed by (kind, key), with the parent (a service,
cluster or family ARN) and status beside the JSON document.  It shares the
store's connection, so a record written inside `store.transaction()` commits
(or rolls back) with everything else the request changed.  The table is
made by step 5 of store/sqlite/migrations.py (to change it, append a step
there).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from ..domain.documents import Doc

_dump = json.JSONEncoder(separators=(",", ":")).encode


class _Connection(Protocol):
    def execute(self, sql: str, args: Any = ...) -> Any: ...


class Records:
    """Keyed documents by kind; see the module docstring."""

    def __init__(self, db: _Connection) -> None:
        self._db = db

    def get(self, kind: str, key: str) -> Doc | None:
        row = self._db.execute("SELECT doc FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, parent: str, status: str, doc: Doc) -> None:
        """Insert, or replace the document and status (its place in the
        parent's order is kept)."""
        self._db.execute(
            "INSERT INTO records (kind, key, parent, status, doc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET parent = excluded.parent, status = excluded.status, "
            "doc = excluded.doc",
            (kind, key, parent, status, _dump(doc)),
        )

    def delete(self, kind: str, key: str) -> None:
        self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))

    def children(self, kind: str, parent: str, statuses: Iterable[str] | None = None,
                 after_seq: int = 0, limit: int = -1) -> list[tuple[int, Doc]]:
        """(seq, document) of a parent's records in creation order."""
        sql = "SELECT seq, doc FROM records WHERE kind = ? AND parent = ? AND seq > ?"
        args: list[Any] = [kind, parent, after_seq]
        if statuses is not None:
            wanted = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        return [(seq, json.loads(doc)) for seq, doc in self._db.execute(sql, tuple(args))]

    def of_kind(self, kind: str, statuses: Iterable[str] | None = None) -> list[Doc]:
        """Every record of a kind (the schedulers' work lists), oldest first."""
        sql = "SELECT doc FROM records WHERE kind = ?"
        args: list[Any] = [kind]
        if statuses is not None:
            wanted = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        return [json.loads(doc) for (doc,) in self._db.execute(sql + " ORDER BY seq", tuple(args))]
