"""Secrets Manager's secrets and versions in SQL (see store/secrets.py for
the records; the tables are made by each backend's migrations).  A value is
sealed before it is written and opened only when asked for."""

from __future__ import annotations

import json

from ..secrets import Secret, SecretValue, SecretVersion
from .base import SealedRepository

_SECRET = "SELECT name, arn, description, created, last_changed, last_accessed, deletion_date FROM secrets"
_UPDATABLE = frozenset({"description", "last_changed", "last_accessed", "deletion_date"})


class SqlSecrets(SealedRepository):
    def get(self, name: str) -> Secret | None:
        row = self._run(_SECRET + " WHERE name = ?", (name,)).fetchone()
        return Secret(*row) if row else None

    def get_by_arn(self, arn: str) -> Secret | None:
        row = self._run(_SECRET + " WHERE arn = ?", (arn,)).fetchone()
        return Secret(*row) if row else None

    def create(self, secret: Secret) -> None:
        self._run(
            "INSERT INTO secrets (name, arn, description, created, last_changed, last_accessed, deletion_date)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (secret.name, secret.arn, secret.description, secret.created, secret.last_changed,
             secret.last_accessed, secret.deletion_date),
        )

    def update(self, name: str, **columns: object) -> None:
        if not set(columns) <= _UPDATABLE:
            raise ValueError(f"not updatable: {sorted(set(columns) - _UPDATABLE)}")
        sets = ", ".join(f"{c} = ?" for c in columns)
        self._run(f"UPDATE secrets SET {sets} WHERE name = ?", (*columns.values(), name))

    def delete(self, name: str) -> None:
        self._run("DELETE FROM secret_versions WHERE secret_name = ?", (name,))
        self._run("DELETE FROM secrets WHERE name = ?", (name,))

    def due_for_deletion(self, now: float) -> list[str]:
        rows = self._run("SELECT name FROM secrets WHERE deletion_date IS NOT NULL AND deletion_date <= ?"
                         " ORDER BY name", (now,))
        return [r[0] for r in rows.fetchall()]

    def all(self) -> list[Secret]:
        return [Secret(*row) for row in self._run(_SECRET + " ORDER BY name").fetchall()]

    # versions -----------------------------------------------------------------

    def versions(self, name: str) -> list[SecretVersion]:
        rows = self._run(
            "SELECT version_id, created, last_accessed, stages FROM secret_versions WHERE secret_name = ?"
            " ORDER BY created DESC, version_id",
            (name,),
        )
        return [SecretVersion(r[0], r[1], r[2], tuple(json.loads(r[3]))) for r in rows.fetchall()]

    def add_version(self, name: str, version_id: str, created: float, value: SecretValue,
                    stages: list[str]) -> None:
        self._run(
            "INSERT INTO secret_versions (secret_name, version_id, created, sealed, stages) VALUES (?, ?, ?, ?, ?)",
            (name, version_id, created, self.sealer.seal(value.pack()), json.dumps(stages)),
        )

    def set_stages(self, name: str, version_id: str, stages: list[str]) -> None:
        self._run("UPDATE secret_versions SET stages = ? WHERE secret_name = ? AND version_id = ?",
                  (json.dumps(stages), name, version_id))

    def touch_version(self, name: str, version_id: str, when: float) -> None:
        self._run("UPDATE secret_versions SET last_accessed = ? WHERE secret_name = ? AND version_id = ?",
                  (when, name, version_id))

    def value(self, name: str, version_id: str) -> SecretValue | None:
        row = self._run("SELECT sealed FROM secret_versions WHERE secret_name = ? AND version_id = ?",
                        (name, version_id)).fetchone()
        return SecretValue.unpack(self.sealer.open(bytes(row[0]))) if row else None
