"""SSM parameters, every version, in SQL (see store/parameters.py for the
record; the table is made by each backend's migrations).  Values are stored
as bytes: a SecureString's sealed, the others as UTF-8."""

from __future__ import annotations

import json
from typing import Any

from ..parameters import ParameterVersion
from .base import SealedRepository

_COLUMNS = "name, version, type, value, description, allowed_pattern, key_id, tier, data_type, modified, labels"


class SqlParameters(SealedRepository):
    def _version(self, row: tuple[Any, ...]) -> ParameterVersion:
        name, version, kind, value, description, pattern, key_id, tier, data_type, modified, labels = row
        stored = bytes(value)
        sealed = stored if kind == "SecureString" else None
        plain = (self.sealer.open(stored) if sealed is not None else stored).decode("utf-8")
        return ParameterVersion(name, int(version), kind, plain, description, pattern, key_id, tier, data_type,
                                modified, tuple(json.loads(labels)), sealed)

    def latest(self, name: str) -> ParameterVersion | None:
        row = self._run(f"SELECT {_COLUMNS} FROM parameter_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
                        (name,)).fetchone()
        return self._version(row) if row else None

    def history(self, name: str) -> list[ParameterVersion]:
        rows = self._run(f"SELECT {_COLUMNS} FROM parameter_versions WHERE name = ? ORDER BY version", (name,))
        return [self._version(r) for r in rows.fetchall()]

    def names(self, prefix: str = "") -> list[str]:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._run("SELECT DISTINCT name FROM parameter_versions WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
                         (like,))
        return [r[0] for r in rows.fetchall()]

    def add(self, p: ParameterVersion) -> None:
        plain = p.value.encode("utf-8")
        stored = self.sealer.seal(plain) if p.type == "SecureString" else plain
        self._run(
            f"INSERT INTO parameter_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.name, p.version, p.type, stored, p.description, p.allowed_pattern, p.key_id, p.tier, p.data_type,
             p.modified, json.dumps(list(p.labels))),
        )

    def set_labels(self, name: str, version: int, labels: list[str]) -> None:
        self._run("UPDATE parameter_versions SET labels = ? WHERE name = ? AND version = ?",
                  (json.dumps(labels), name, version))

    def delete_version(self, name: str, version: int) -> None:
        self._run("DELETE FROM parameter_versions WHERE name = ? AND version = ?", (name, version))

    def delete(self, name: str) -> None:
        self._run("DELETE FROM parameter_versions WHERE name = ?", (name,))
