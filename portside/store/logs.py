"""CloudWatch Logs' state: log groups, log streams and their events, in tables
of their own beside the ECS ones (same database, same transactions, so a
PutLogEvents is committed before it is acknowledged like any ECS change).

Events are ordered by (timestamp, seq): `seq` is the insertion order, so two
events with one timestamp keep the order they were put in.  A position in a
stream or group is such a pair; the read methods take one and return events
strictly after (or before) it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

Position = tuple[int, int]  # (timestamp ms, seq)
START: Position = (-(2**62), 0)
END: Position = (2**62, 2**62)


@dataclass(frozen=True)
class LogGroup:
    name: str
    created: int  # epoch ms
    retention_days: int | None
    log_group_class: str
    deletion_protection: bool
    stored_bytes: int


@dataclass(frozen=True)
class LogStream:
    group_name: str
    name: str
    created: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int | None
    stored_bytes: int


@dataclass(frozen=True)
class LogEvent:
    seq: int
    stream_name: str
    timestamp: int
    ingested: int
    message: str

    @property
    def position(self) -> Position:
        return (self.timestamp, self.seq)


class LogRepository(Protocol):
    """CloudWatch Logs' groups, streams and events."""

    def get_group(self, name: str) -> LogGroup | None: ...
    def create_group(self, name: str, created: int, log_group_class: str, deletion_protection: bool) -> None: ...
    def delete_group(self, name: str) -> None: ...
    def set_retention(self, name: str, days: int | None) -> None: ...
    def list_groups(self, prefix: str, contains: str | None, after: str, limit: int,
                    log_group_class: str | None) -> list[LogGroup]: ...
    def groups_with_retention(self) -> list[tuple[str, int]]: ...
    def get_stream(self, group: str, name: str) -> LogStream | None: ...
    def create_stream(self, group: str, name: str, created: int) -> None: ...
    def delete_stream(self, group: str, name: str) -> None: ...
    def list_streams(self, group: str, prefix: str, by_last_event: bool, descending: bool,
                     offset: int, limit: int) -> list[LogStream]: ...
    def stream_names(self, group: str, prefix: str | None, names: list[str] | None) -> list[str]: ...
    def put_events(self, group: str, stream: str, events: list[tuple[int, str]], ingested: int) -> None: ...
    def stream_events(self, group: str, stream: str, after: Position, before: Position,
                      limit: int, newest: bool) -> list[LogEvent]: ...
    def scan_group(self, group: str, after: Position, before: Position, streams: list[str] | None,
                   batch: int = 1000) -> Iterator[LogEvent]: ...
    def purge_before(self, group: str, cutoff: int) -> int: ...
