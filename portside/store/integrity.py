"""Whether the SQLite files in a data dir can be trusted, checked before the
server serves from them.

SQLite itself is quiet about files that were damaged behind its back: a
write-ahead log (WAL) with a bad header is ignored whole, one cut short or
overwritten in the middle is replayed up to the damage, a deleted one is not
missed, and a zero-byte database file opens as a new, empty database.  Each
of these silently lost acknowledged changes (50-100 % of them in the tests).
So before opening the database:

- the data dir and the database must be writable (named if not);
- after an unclean stop (the `.running` marker the server writes at start and
  removes at a clean stop is still there) the WAL must be there, start with a
  valid header, hold no frame of its current generation past a broken one, and
  still hold the last commit the server made durable (a partial frame at its
  end is only an unfinished COMMIT's);
- a database file of zero bytes is refused, as is a WAL without its database;
- `PRAGMA quick_check` must answer `ok` (a damaged page, a file that is not a
  database).

Refusals are `UntrustedStore` with one line for the operator.  Those that
`--force` may override (the operator accepts the loss) say so.  The server
also writes a row at every start, so the WAL of a server that ran is never
empty: an empty one after an unclean stop was emptied by someone else.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import time
from pathlib import Path

log = logging.getLogger("portside.store")

_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32
_FRAME_HEADER = 24


class UntrustedStore(Exception):
    """The database cannot be served from; the message is one line."""


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".running")


def check(path: Path, force: bool = False) -> None:
    """Raise UntrustedStore unless the database at `path` may be served."""
    _check_writable(path)
    wal, marker = _wal(path), _marker(path)
    unclean = marker.exists()
    if unclean:
        serving = _live_server(marker)
        if serving is not None:
            raise UntrustedStore(f"another portside server (pid {serving}) is serving from {path}; stop it first")
    if path.exists() and path.stat().st_size == 0:
        _refuse_unless(force, f"the database {path} is empty (0 bytes): every resource it held is gone; "
                              "restore it from a backup, or pass --force to start with an empty database")
    if not path.exists():
        if wal.exists() and wal.stat().st_size > 0:
            _refuse_unless(force, f"the database {path} is missing but its write-ahead log {wal} is there; "
                                  "restore the database from a backup, or pass --force to start anew")
        elif unclean:
            _refuse_unless(force, f"the database {path} is missing after an unclean stop; restore it from "
                                  "a backup, or pass --force to start with an empty database")
        return
    if unclean:
        problem = _wal_problem(wal) or _commits_missing(path, marker)
        if problem:
            _refuse_unless(force, f"after an unclean stop, {problem}: acknowledged changes would be lost; "
                                  "restore from a backup, or pass --force to start from what is left")
    _quick_check(path)


def _live_server(marker: Path) -> int | None:
    """The pid in the marker, if that process is alive and a portside server."""
    try:
        pid = int(marker.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid != os.getpid() and b"portside" in cmdline else None


def _refuse_unless(force: bool, message: str) -> None:
    if not force:
        raise UntrustedStore(message)
    log.warning("--force: starting although %s", message.split("; ")[0])


def _check_writable(path: Path) -> None:
    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise UntrustedStore(f"the data dir {directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UntrustedStore(f"the data dir {directory} cannot be created: {exc.strerror}") from None
    probe = directory / f".portside-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UntrustedStore(f"the data dir {directory} is not writable: {exc.strerror}") from None
    for f in (path, _wal(path)):
        if f.exists() and (f.is_dir() or not os.access(f, os.R_OK | os.W_OK)):
            raise UntrustedStore(f"the database file {f} is not a readable and writable file")


def _wal_problem(wal: Path) -> str | None:
    """What is wrong with the WAL a server left when it was killed, or None.

    Only headers are read (a restart after a crash must stay quick): the
    file's header and its checksum, whole frames, and the salts of the frame
    headers.  The frames SQLite replays are those of the current generation
    (the header's salts) from the start; a crash leaves them followed by
    nothing or by frames of older generations, never by current ones after a
    foreign frame.  A frame overwritten in the middle breaks that."""
    if not wal.exists():
        return f"the write-ahead log {wal} is gone"
    size = wal.stat().st_size
    if size < _WAL_HEADER:
        return f"the write-ahead log {wal} is empty or cut short ({size} bytes)"
    with open(wal, "rb") as f:
        head = f.read(_WAL_HEADER)
        magic, _, page_size, _, salt1, salt2, c1, c2 = struct.unpack(">8I", head)
        if magic not in _WAL_MAGIC or not 512 <= page_size <= 65536 or page_size & (page_size - 1):
            return f"the write-ahead log {wal} does not start with a valid header"
        if _checksum(head[:24], magic & 1, 0, 0) != (c1, c2):
            return f"the write-ahead log {wal} has a damaged header"
        frame = _FRAME_HEADER + page_size
        # A partial frame at the end is what a kill in the middle of writing one leaves (a
        # write to the page cache can stop short on SIGKILL): it belongs to a COMMIT that never
        # finished, so to nothing acknowledged, and SQLite ignores it.  A log cut lower than the
        # last acknowledged commit, in a frame or between two, is what `_commits_missing` finds.
        broken = False
        for offset in range(_WAL_HEADER, size - frame + 1, frame):
            f.seek(offset + 8)
            current = struct.unpack(">2I", f.read(8)) == (salt1, salt2)
            if not current:
                broken = True
            elif broken:
                return f"the write-ahead log {wal} is damaged in the middle"
    return None


def _commits_missing(path: Path, marker: Path) -> str | None:
    """A WAL cut short (on a frame boundary or inside a frame) replays cleanly
    to an older state; the number of the last durable commit, which the server
    notes in its marker (store/sqlite/database.py), tells it apart."""
    try:
        fields = marker.read_text().split()
        noted = int(fields[1]) if len(fields) > 1 else 0
    except (OSError, ValueError):
        return None
    if not noted:
        return None
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None  # quick_check names what is wrong
    held = int(row[0]) if row and str(row[0]).isdigit() else 0
    if held >= noted:
        return None
    return (f"the database and its write-ahead log {_wal(path)} end at commit {held}, but the server had "
            f"made commit {noted} durable (the log was cut short)")


def _checksum(data: bytes, big_endian: int, s0: int, s1: int) -> tuple[int, int]:
    """SQLite's WAL checksum over 8-byte blocks, continuing from (s0, s1)."""
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _quick_check(path: Path) -> None:
    started = time.monotonic()
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            rows = [" ".join(str(r[0]).split()) for r in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UntrustedStore(f"the database {path} cannot be read ({exc}); restore it from a backup") from None
    if rows != ["ok"]:
        raise UntrustedStore(f"the database {path} is damaged (quick_check: {'; '.join(rows)[:300]}); "
                             "restore it from a backup")
    took = time.monotonic() - started
    if took > 1.0:
        log.warning("checked the database in %.1f s", took)


def mark_running(path: Path) -> None:
    """Note that a server serves from `path` (removed by `mark_stopped`), and
    write a row, so the WAL of a server that ran is never empty."""
    marker = _marker(path)
    with open(marker, "w") as f:
        f.write(f"{os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_start', ?)", (str(time.time()),))
    finally:
        conn.close()


def mark_stopped(path: Path) -> None:
    try:
        _marker(path).unlink()
    except FileNotFoundError:
        pass
