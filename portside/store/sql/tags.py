"""Tags of any resource, by ARN, in either backend."""

from __future__ import annotations

from .base import SqlRepository


class SharedTags(SqlRepository):
    # the column that keeps a resource's tags in the order they were first put
    TAG_ORDER = "rowid"  # PostgreSQL: seq

    def get_tags(self, arn: str) -> list[dict[str, str]]:
        rows = self._db.execute(
            f"SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY {self.TAG_ORDER}", (arn,)
        )
        return [{"key": k, "value": v} for k, v in rows]

    def put_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        self._db.executemany(
            "INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
            [(arn, t["key"], t.get("value", "")) for t in tags],
        )

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        self._db.executemany(
            "DELETE FROM tags WHERE resource_arn = ? AND key = ?", [(arn, k) for k in keys]
        )
