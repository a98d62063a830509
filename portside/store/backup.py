"""`portside backup`: a consistent copy of a live database, through SQLite's
online backup API (pages copied in steps while the server keeps serving;
what was committed when the copy finished is in it, WAL included)."""

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
