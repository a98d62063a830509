"""The SQLite implementation of parameters (see store/parameters.py for the records,
store/sqlite/migrations.py step 7 for the tables)."""

from __future__ import annotations

import json
from typing import Any

from ..parameters import ParameterVersion
from ..sealing import Sealer

_COLUMNS = "name, version, type, value, description, allowed_pattern, key_id, tier, data_type, modified, labels"


class SqliteParameters:
    def __init__(self, db: Any, sealer: Sealer) -> None:
        self.db = db  # the store's guarded connection
        self.sealer = sealer

    def _row(self, row: tuple) -> ParameterVersion:
        name, version, kind, value, description, pattern, key_id, tier, data_type, modified, labels = row
        sealed = None
        if kind == "SecureString":
            sealed = bytes(value)
            plain = self.sealer.open(sealed).decode("utf-8")
        else:
            plain = value if isinstance(value, str) else bytes(value).decode("utf-8")
        return ParameterVersion(name, version, kind, plain, description, pattern, key_id, tier, data_type,
                                modified, tuple(json.loads(labels)), sealed)

    def latest(self, name: str) -> ParameterVersion | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM parameter_versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
        ).fetchone()
        return self._row(row) if row else None

    def history(self, name: str) -> list[ParameterVersion]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM parameter_versions WHERE name = ? ORDER BY version", (name,)
        )
        return [self._row(r) for r in rows]

    def names(self, prefix: str = "") -> list[str]:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT name FROM parameter_versions WHERE name LIKE ? ESCAPE '\\' ORDER BY name", (like,))]

    def add(self, p: ParameterVersion) -> None:
        stored: object = self.sealer.seal(p.value.encode("utf-8")) if p.type == "SecureString" else p.value
        self.db.execute(
            f"INSERT INTO parameter_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.name, p.version, p.type, stored, p.description, p.allowed_pattern, p.key_id, p.tier, p.data_type,
             p.modified, json.dumps(list(p.labels))),
        )

    def set_labels(self, name: str, version: int, labels: list[str]) -> None:
        self.db.execute("UPDATE parameter_versions SET labels = ? WHERE name = ? AND version = ?",
                        (json.dumps(labels), name, version))

    def delete_version(self, name: str, version: int) -> None:
        self.db.execute("DELETE FROM parameter_versions WHERE name = ? AND version = ?", (name, version))

    def delete(self, name: str) -> None:
        self.db.execute("DELETE FROM parameter_versions WHERE name = ?", (name,))



