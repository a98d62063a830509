"""CloudWatch Logs' groups, streams and events in SQL (see store/logs.py for
the records; the tables are made by each backend's migrations)."""

from __future__ import annotations

from collections.abc import Iterator

from ..logs import LogEvent, LogGroup, LogStream, Position
from .base import StatementRepository

_STREAM = "SELECT group_name, name, created, first_event, last_event, last_ingestion, stored_bytes FROM log_streams"


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SqlLogs(StatementRepository):
    # groups -------------------------------------------------------------------

    def get_group(self, name: str) -> LogGroup | None:
        row = self._run(
            "SELECT name, created, retention_days, log_group_class, deletion_protection,"
            " (SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams WHERE group_name = g.name)"
            " FROM log_groups g WHERE name = ?",
            (name,),
        ).fetchone()
        return LogGroup(row[0], int(row[1]), row[2], row[3], bool(row[4]), int(row[5])) if row else None

    def create_group(self, name: str, created: int, log_group_class: str, deletion_protection: bool) -> None:
        self._run(
            "INSERT INTO log_groups (name, created, retention_days, log_group_class, deletion_protection)"
            " VALUES (?, ?, NULL, ?, ?)",
            (name, created, log_group_class, int(deletion_protection)),
        )

    def delete_group(self, name: str) -> None:
        self._run("DELETE FROM log_events WHERE group_name = ?", (name,))
        self._run("DELETE FROM log_streams WHERE group_name = ?", (name,))
        self._run("DELETE FROM log_groups WHERE name = ?", (name,))

    def set_retention(self, name: str, days: int | None) -> None:
        self._run("UPDATE log_groups SET retention_days = ? WHERE name = ?", (days, name))

    def list_groups(self, prefix: str, contains: str | None, after: str, limit: int,
                    log_group_class: str | None) -> list[LogGroup]:
        sql = "SELECT name FROM log_groups WHERE name > ? AND name LIKE ? ESCAPE '\\'"
        args: list[object] = [after, _like(prefix)]
        if contains:
            sql += " AND " + self.d.contains.format("name", "?")
            args.append(contains)
        if log_group_class:
            sql += " AND log_group_class = ?"
            args.append(log_group_class)
        sql += " ORDER BY name LIMIT ?"
        args.append(limit)
        names = [row[0] for row in self._run(sql, tuple(args)).fetchall()]
        return [g for g in (self.get_group(n) for n in names) if g is not None]

    def groups_with_retention(self) -> list[tuple[str, int]]:
        rows = self._run("SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL")
        return [(name, int(days)) for name, days in rows.fetchall()]

    # streams ------------------------------------------------------------------

    def get_stream(self, group: str, name: str) -> LogStream | None:
        row = self._run(_STREAM + " WHERE group_name = ? AND name = ?", (group, name)).fetchone()
        return LogStream(*row) if row else None

    def create_stream(self, group: str, name: str, created: int) -> None:
        self._run("INSERT INTO log_streams (group_name, name, created) VALUES (?, ?, ?)", (group, name, created))

    def delete_stream(self, group: str, name: str) -> None:
        self._run("DELETE FROM log_events WHERE group_name = ? AND stream_name = ?", (group, name))
        self._run("DELETE FROM log_streams WHERE group_name = ? AND name = ?", (group, name))

    def list_streams(self, group: str, prefix: str, by_last_event: bool, descending: bool,
                     offset: int, limit: int) -> list[LogStream]:
        order = "COALESCE(last_event, -1)" if by_last_event else "name"
        direction = "DESC" if descending else "ASC"
        rows = self._run(
            _STREAM + " WHERE group_name = ? AND name LIKE ? ESCAPE '\\'"
            f" ORDER BY {order} {direction}, name {direction} LIMIT ? OFFSET ?",
            (group, _like(prefix), limit, offset),
        )
        return [LogStream(*row) for row in rows.fetchall()]

    def stream_names(self, group: str, prefix: str | None, names: list[str] | None) -> list[str]:
        if names is not None:
            return [n for n in names if self.get_stream(group, n) is not None]
        rows = self._run(
            "SELECT name FROM log_streams WHERE group_name = ? AND name LIKE ? ESCAPE '\\' ORDER BY name",
            (group, _like(prefix or "")),
        )
        return [row[0] for row in rows.fetchall()]

    # events -------------------------------------------------------------------

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]], ingested: int) -> None:
        """Append events (timestamp ms, message) to a stream; call inside a transaction."""
        if not events:
            return
        self.db.executemany(
            self.d.sql("INSERT INTO log_events (group_name, stream_name, ts, ingested, message)"
                       " VALUES (?, ?, ?, ?, ?)"),
            [(group, stream, ts, ingested, message) for ts, message in events],
        )
        size = sum(len(message.encode("utf-8")) for _, message in events)
        first = min(ts for ts, _ in events)
        last = max(ts for ts, _ in events)
        self._run(
            f"UPDATE log_streams SET first_event = {self.d.least}(COALESCE(first_event, ?), ?),"
            f" last_event = {self.d.greatest}(COALESCE(last_event, ?), ?), last_ingestion = ?,"
            " stored_bytes = stored_bytes + ? WHERE group_name = ? AND name = ?",
            (first, first, last, last, ingested, size, group, stream),
        )

    def stream_events(self, group: str, stream: str, after: Position, before: Position,
                      limit: int, newest: bool) -> list[LogEvent]:
        """Up to `limit` events strictly between two positions, oldest first;
        the newest ones of the range when `newest`."""
        order = "DESC" if newest else "ASC"
        rows = self._run(
            "SELECT seq, stream_name, ts, ingested, message FROM log_events"
            " WHERE group_name = ? AND stream_name = ? AND (ts, seq) > (?, ?) AND (ts, seq) < (?, ?)"
            f" ORDER BY ts {order}, seq {order} LIMIT ?",
            (group, stream, after[0], after[1], before[0], before[1], limit),
        ).fetchall()
        events = [LogEvent(*row) for row in rows]
        return events[::-1] if newest else events

    def scan_group(self, group: str, after: Position, before: Position, streams: list[str] | None,
                   batch: int = 1000) -> Iterator[LogEvent]:
        """The group's events strictly between two positions, oldest first,
        read `batch` at a time (only from `streams` when given)."""
        where = "group_name = ? AND (ts, seq) > (?, ?) AND (ts, seq) < (?, ?)"
        extra: tuple[object, ...] = ()
        if streams is not None:
            if not streams:
                return
            where += f" AND stream_name IN ({','.join('?' * len(streams))})"
            extra = tuple(streams)
        position = after
        while True:
            rows = self._run(
                f"SELECT seq, stream_name, ts, ingested, message FROM log_events WHERE {where}"
                " ORDER BY ts, seq LIMIT ?",
                (group, position[0], position[1], before[0], before[1], *extra, batch),
            ).fetchall()
            for row in rows:
                yield LogEvent(*row)
            if len(rows) < batch:
                return
            position = (rows[-1][2], rows[-1][0])

    def purge_before(self, group: str, cutoff: int) -> int:
        """Delete a group's events older than `cutoff` (ms); call inside a transaction."""
        cursor = self._run("DELETE FROM log_events WHERE group_name = ? AND ts < ?", (group, cutoff))
        purged = int(cursor.rowcount)
        if purged:
            self._run(
                "UPDATE log_streams SET"
                " first_event = (SELECT MIN(ts) FROM log_events e WHERE e.group_name = log_streams.group_name"
                "   AND e.stream_name = log_streams.name),"
                f" stored_bytes = (SELECT COALESCE(SUM({self.d.octets.format('message')}), 0) FROM log_events e"
                "   WHERE e.group_name = log_streams.group_name AND e.stream_name = log_streams.name)"
                " WHERE group_name = ?",
                (group,),
            )
        return purged
