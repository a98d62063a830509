"""`portside backup`: a consistent copy of a live database, through SQLite's
online backup API (pages copied in steps while the server keeps serving;
what was committed when the copy finished is in it, WAL included), and a
copy of the key file that seals its secrets (store/sealing.py) beside it:
the values cannot be read back without it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .integrity import UntrustedStore


def backup(source: Path, destination: Path) -> int:
    """Copy the database at `source` to `destination` (which must not exist);
    the number of pages copied.  UntrustedStore when either cannot be used."""
    if not source.is_file() or source.stat().st_size == 0:
        raise UntrustedStore(f"there is no database at {source}")
    if destination.exists():
        raise UntrustedStore(f"{destination} exists already; back up to a new file")
    if key_copy(destination).exists():
        raise UntrustedStore(f"{key_copy(destination)} exists already; back up to a new file")
    partial = destination.with_name(destination.name + ".partial")
    try:
        src = sqlite3.connect(source)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=1024)
                pages = dst.execute("PRAGMA page_count").fetchone()[0]
                check = dst.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise UntrustedStore(f"the copy of {source} does not pass quick_check ({check})")
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        raise UntrustedStore(f"backing up {source} failed: {exc}") from None
    except OSError as exc:
        raise UntrustedStore(f"backing up {source} to {destination} failed: {exc.strerror or exc}") from None
    finally:
        if partial.exists():
            partial.unlink()
    return pages


def key_copy(destination: Path) -> Path:
    """Where the key file's copy goes: beside the database's (`FILE.key`)."""
    return destination.with_name(destination.name + ".key")


def backup_key(key: Path, destination: Path) -> Path | None:
    """Copy the database's key file `key` (0600, fsynced) to
    `key_copy(destination)`; None when there is none (no value was ever sealed)."""
    try:
        data = key.read_bytes()
    except FileNotFoundError:
        return None
    target = key_copy(destination)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UntrustedStore(f"copying the key file {key} to {target} failed: {exc.strerror or exc}") from None
    return target
