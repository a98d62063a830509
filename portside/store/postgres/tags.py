"""Tags of any resource, by ARN, in PostgreSQL."""

from __future__ import annotations

from .database import PostgresDatabase


class PostgresTags(PostgresDatabase):
    def get_tags(self, arn: str) -> list[dict[str, str]]:
        rows = self._db.execute(
            "SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY seq", (arn,)
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
