"""Task definitions, in either backend.  Read on every placement, so they are cached
here (a read cache of rows, dropped with the store's generation)."""

from __future__ import annotations

from ...domain.documents import Doc
from .base import SqlRepository, dump

DEFINITIONS_CACHED = 1024  # task definition revisions kept parsed in memory (each ≤ 64 KiB)


class SharedTaskDefinitions(SqlRepository):
    _definitions: dict[tuple[str, int | None], Doc]  # set by the store: found revisions only
    _definitions_generation: int

    def last_revision(self, family: str) -> int:
        row = self._db.execute(
            "SELECT MAX(revision) FROM task_definitions WHERE family = ?", (family,)
        ).fetchone()
        return int(row[0] or 0)

    def put_task_definition(self, doc: Doc) -> None:
        self._definitions.clear()
        self._db.execute(
            "INSERT INTO task_definitions (arn, family, revision, status, doc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (arn) DO UPDATE SET status = excluded.status, doc = excluded.doc",
            (doc["taskDefinitionArn"], doc["family"], doc["revision"], doc["status"], dump(doc)),
        )

    def get_task_definition(self, family: str, revision: int | None) -> Doc | None:
        """One revision, or the latest ACTIVE one when revision is None (a
        copy of the cached document's top level: callers replace members,
        never change them in place)."""
        generation = self.generation()
        if generation != self._definitions_generation:
            self._definitions.clear()
            self._definitions_generation = generation
        key = (family, revision)
        found = self._definitions.get(key)
        if found is None:
            # Only what exists is remembered, and only so much of it: a flood of
            # lookups for names that do not exist must not pin memory.
            found = self._load_task_definition(family, revision)
            if found is None:
                return None
            if len(self._definitions) >= DEFINITIONS_CACHED:
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
            "ACTIVE": "HAVING SUM(CASE WHEN status = 'ACTIVE' THEN 1 ELSE 0 END) > 0",
            "INACTIVE": "HAVING SUM(CASE WHEN status = 'ACTIVE' THEN 1 ELSE 0 END) = 0",
            "ALL": "",
        }[status]
        rows = self._db.execute(
            "SELECT family FROM task_definitions WHERE family LIKE ? ESCAPE '\\' "
            f"GROUP BY family {having} ORDER BY family LIMIT ? OFFSET ?",
            (_like_prefix(prefix), limit, offset),
        )
        return [r[0] for r in rows]


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
