"""A database that cannot be written: the disk is full, the file went
read-only, the disk answers I/O errors.

Such a write fails as a `StoreWriteFailed`, answered to the client as AWS's
`ServerException` (500) with a message naming the cause (the protocol layer
answers any exception marked `server_fault` so, without a traceback; the
store needs nothing of the protocol's), and logged once
when writes start failing (and once when they succeed again), never with a
traceback per request.  `WriteHealth` is what `GET /health` reports: unhealthy
from a failed write until the next one that succeeds.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("portside.store")

# SQLite's messages for a database that cannot take a write
_CAUSES = ("database or disk is full", "disk I/O error", "attempt to write a readonly database")


# How long a change waits for another process's write lock before it is refused
# (SQLite's busy_timeout, which Portside used to wait on the loop thread).
LOCK_WAIT_S = 10.0
LOCKED = "database is locked by another process"


class StoreBusy(Exception):
    """Another process holds the database's write lock: the change did not
    begin (nothing of it was done), so the request may be run again once the
    lock is free.  The HTTP app waits for that off the event loop
    (`UnitOfWork.wait_unlocked`) and runs the request again; other callers
    answer it as a ServerException naming the lock."""

    server_fault = True  # see protocol/dispatch.py
    retry_when_unlocked = True  # protocol/dispatch.py lets the HTTP app wait and retry

    def __init__(self) -> None:
        super().__init__(StoreWriteFailed(LOCKED).message)


class StoreWriteFailed(Exception):
    """The change was not saved; answered as AWS's ServerException."""

    server_fault = True  # see protocol/dispatch.py

    def __init__(self, cause: str) -> None:
        self.message = f"The change was not saved: the server's database could not be written ({cause})."
        super().__init__(self.message)
        self.cause = cause


def write_failure(exc: BaseException) -> StoreWriteFailed | None:
    """The StoreWriteFailed an exception means, or None when it is something else."""
    if isinstance(exc, StoreWriteFailed):
        return exc
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        for cause in _CAUSES:
            if cause in text:
                return StoreWriteFailed(cause)
    return None


class WriteHealth:
    def __init__(self, where: str) -> None:
        self.where = where
        self.failure: str | None = None  # the cause, while writes fail

    def failed(self, failure: StoreWriteFailed) -> None:
        if self.failure is None:
            log.error("writing to the database %s failed: %s; changes are refused until writes succeed again",
                      self.where, failure.cause)
        self.failure = failure.cause

    def succeeded(self) -> None:
        if self.failure is not None:
            log.warning("writing to the database %s succeeds again", self.where)
        self.failure = None
