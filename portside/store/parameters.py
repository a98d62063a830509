"""SSM Parameter Store's state: every version of every parameter, in a table
of its own.  A SecureString's value is sealed (`sealing.Sealer`) before it is
written; String and StringList values are kept as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .sealing import Sealer
from .sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS parameter_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    description TEXT,
    allowed_pattern TEXT,
    key_id TEXT,
    tier TEXT NOT NULL,
    data_type TEXT NOT NULL,
    modified REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (name, version)
);
"""


@dataclass(frozen=True)
class ParameterVersion:
    name: str
    version: int
    type: str
    value: str  # the plain value (opened for a SecureString); never logged
    description: str | None
    allowed_pattern: str | None
    key_id: str | None
    tier: str
    data_type: str
    modified: float
    labels: tuple[str, ...]
    sealed: bytes | None = None  # a SecureString's stored ciphertext

    def __repr__(self) -> str:
        return f"ParameterVersion(name={self.name!r}, version={self.version}, type={self.type!r})"


_COLUMNS = "name, version, type, value, description, allowed_pattern, key_id, tier, data_type, modified, labels"


class ParametersRepository:
    def __init__(self, store: SqliteStore, sealer: Sealer) -> None:
        self.db = store.db
        self.sealer = sealer
        self.db.executescript(SCHEMA)

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



