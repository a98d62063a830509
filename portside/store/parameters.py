"""SSM Parameter Store's state: every version of every parameter, in a table
of its own.  A SecureString's value is sealed (`sealing.Sealer`) before it is
written; String and StringList values are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


class ParameterRepository(Protocol):
    """SSM parameters, every version; SecureString values sealed at rest."""

    def latest(self, name: str) -> ParameterVersion | None: ...
    def history(self, name: str) -> list[ParameterVersion]: ...
    def names(self, prefix: str = "") -> list[str]: ...
    def add(self, p: ParameterVersion) -> None: ...
    def set_labels(self, name: str, version: int, labels: list[str]) -> None: ...
    def delete_version(self, name: str, version: int) -> None: ...
    def delete(self, name: str) -> None: ...
