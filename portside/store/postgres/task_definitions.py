"""Task definitions in PostgreSQL.  Read on every placement, so they are cached
here (a read cache of rows, dropped with the store's generation)."""

from __future__ import annotations

from ...domain.documents import Doc
from .database import PostgresDatabase, dump


class PostgresTaskDefinitions(PostgresDatabase):
    _definitions: dict[tuple[str, int | None], Doc | None]  # set by PostgresStore
    _definitions_generation: int

    def last_revision(self, family: str) -> int:
        row = self._db.execute(
            "SELECT MAX(revision) FROM task_definitions WHERE family = %s", (family,)
        ).fetchone()
        return int(row[0] or 0)

    def put_task_definition(self, doc: Doc) -> None:
        self._definitions.clear()
        self._db.execute(
            "INSERT INTO task_definitions (arn, family, revision, status, doc) VALUES (%s, %s, %s, %s, %s) "
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
        if key not in self._definitions:
            self._definitions[key] = self._load_task_definition(family, revision)
        found = self._definitions[key]
        return dict(found) if found is not None else None

    def _load_task_definition(self, family: str, revision: int | None) -> Doc | None:
        if revision is None:
            return self._doc(
                "SELECT doc FROM task_definitions WHERE family = %s AND status = 'ACTIVE' "
                "ORDER BY revision DESC LIMIT 1",
                (family,),
            )
        return self._doc(
            "SELECT doc FROM task_definitions WHERE family = %s AND revision = %s",
            (family, revision),
        )

    def list_task_definition_arns(
        self, family: str | None, status: str, descending: bool, offset: int, limit: int
    ) -> list[str]:
        order = "DESC" if descending else "ASC"
        where, args = "status = %s", [status]
        if family is not None:
            where += " AND family = %s"
            args.append(family)
        rows = self._db.execute(
            f"SELECT arn FROM task_definitions WHERE {where} "
            f"ORDER BY family {order}, revision {order} LIMIT %s OFFSET %s",
            (*args, limit, offset),
        )
        return [r[0] for r in rows]

    def list_families(self, prefix: str, status: str, offset: int, limit: int) -> list[str]:
        having = {
            "ACTIVE": "HAVING bool_or(status = 'ACTIVE')",
            "INACTIVE": "HAVING NOT bool_or(status = 'ACTIVE')",
            "ALL": "",
        }[status]
        rows = self._db.execute(
            "SELECT family FROM task_definitions WHERE family LIKE %s ESCAPE '\\' "
            f"GROUP BY family {having} ORDER BY family LIMIT %s OFFSET %s",
            (_like_prefix(prefix), limit, offset),
        )
        return [r[0] for r in rows]


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
