"""The SQLite implementation of secrets (see store/secrets.py for the records,
store/sqlite/migrations.py step 7 for the tables)."""

from __future__ import annotations

import json
from typing import Any

from ..sealing import Sealer
from ..secrets import Secret, SecretValue, SecretVersion

_SECRET = "SELECT name, arn, description, created, last_changed, last_accessed, deletion_date FROM secrets"


class SqliteSecrets:
    def __init__(self, db: Any, sealer: Sealer) -> None:
        self.db = db  # the store's guarded connection
        self.sealer = sealer

    def get(self, name: str) -> Secret | None:
        row = self.db.execute(_SECRET + " WHERE name = ?", (name,)).fetchone()
        return Secret(*row) if row else None

    def get_by_arn(self, arn: str) -> Secret | None:
        row = self.db.execute(_SECRET + " WHERE arn = ?", (arn,)).fetchone()
        return Secret(*row) if row else None

    def create(self, secret: Secret) -> None:
        self.db.execute(
            "INSERT INTO secrets (name, arn, description, created, last_changed, last_accessed, deletion_date)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (secret.name, secret.arn, secret.description, secret.created, secret.last_changed,
             secret.last_accessed, secret.deletion_date),
        )

    def update(self, name: str, **columns: object) -> None:
        allowed = {"description", "last_changed", "last_accessed", "deletion_date"}
        assert set(columns) <= allowed
        sets = ", ".join(f"{c} = ?" for c in columns)
        self.db.execute(f"UPDATE secrets SET {sets} WHERE name = ?", (*columns.values(), name))

    def delete(self, name: str) -> None:
        self.db.execute("DELETE FROM secret_versions WHERE secret_name = ?", (name,))
        self.db.execute("DELETE FROM secrets WHERE name = ?", (name,))

    def due_for_deletion(self, now: float) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT name FROM secrets WHERE deletion_date IS NOT NULL AND deletion_date <= ?", (now,))]

    def all(self) -> list[Secret]:
        return [Secret(*row) for row in self.db.execute(_SECRET + " ORDER BY name")]

    # versions -----------------------------------------------------------------

    def versions(self, name: str) -> list[SecretVersion]:
        rows = self.db.execute(
            "SELECT version_id, created, last_accessed, stages FROM secret_versions WHERE secret_name = ?"
            " ORDER BY created DESC, version_id",
            (name,),
        )
        return [SecretVersion(r[0], r[1], r[2], tuple(json.loads(r[3]))) for r in rows]

    def add_version(self, name: str, version_id: str, created: float, value: SecretValue,
                    stages: list[str]) -> None:
        self.db.execute(
            "INSERT INTO secret_versions (secret_name, version_id, created, sealed, stages) VALUES (?, ?, ?, ?, ?)",
            (name, version_id, created, self.sealer.seal(value.pack()), json.dumps(stages)),
        )

    def set_stages(self, name: str, version_id: str, stages: list[str]) -> None:
        self.db.execute(
            "UPDATE secret_versions SET stages = ? WHERE secret_name = ? AND version_id = ?",
            (json.dumps(stages), name, version_id),
        )

    def touch_version(self, name: str, version_id: str, when: float) -> None:
        self.db.execute(
            "UPDATE secret_versions SET last_accessed = ? WHERE secret_name = ? AND version_id = ?",
            (when, name, version_id),
        )

    def value(self, name: str, version_id: str) -> SecretValue | None:
        row = self.db.execute(
            "SELECT sealed FROM secret_versions WHERE secret_name = ? AND version_id = ?", (name, version_id)
        ).fetchone()
        return SecretValue.unpack(self.sealer.open(row[0])) if row else None
