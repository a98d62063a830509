"""Secrets Manager's state: secrets and their versions, in tables of their own.

A version's value is sealed (`sealing.Sealer`) before it is written and opened
only when asked for; the database never holds a value in the clear.  Staging
labels (AWSCURRENT, AWSPREVIOUS, custom ones) are kept per version as a JSON
list; moving one is the caller's business (api/secretsmanager.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Secret:
    name: str
    arn: str
    description: str | None
    created: float
    last_changed: float
    last_accessed: float | None
    deletion_date: float | None  # set while scheduled for deletion


@dataclass(frozen=True)
class SecretVersion:
    version_id: str
    created: float
    last_accessed: float | None
    stages: tuple[str, ...]


@dataclass(frozen=True)
class SecretValue:
    """An opened value: a string or bytes, never both.  Its repr hides it."""

    string: str | None
    binary: bytes | None

    def __repr__(self) -> str:
        return "SecretValue(<hidden>)"

    def pack(self) -> bytes:
        return b"S" + self.string.encode("utf-8") if self.string is not None else b"B" + (self.binary or b"")

    @classmethod
    def unpack(cls, data: bytes) -> SecretValue:
        return cls(data[1:].decode("utf-8"), None) if data[:1] == b"S" else cls(None, data[1:])


class SecretRepository(Protocol):
    """Secrets Manager's secrets and versions; values sealed at rest."""

    def get(self, name: str) -> Secret | None: ...
    def get_by_arn(self, arn: str) -> Secret | None: ...
    def create(self, secret: Secret) -> None: ...
    def update(self, name: str, **columns: object) -> None: ...
    def delete(self, name: str) -> None: ...
    def due_for_deletion(self, now: float) -> list[str]: ...
    def all(self) -> list[Secret]: ...
    def versions(self, name: str) -> list[SecretVersion]: ...
    def add_version(self, name: str, version_id: str, created: float, value: SecretValue,
                    stages: list[str]) -> None: ...
    def set_stages(self, name: str, version_id: str, stages: list[str]) -> None: ...
    def touch_version(self, name: str, version_id: str, when: float) -> None: ...
    def value(self, name: str, version_id: str) -> SecretValue | None: ...
