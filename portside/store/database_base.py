"""What the SQLite and PostgreSQL database classes share word for word:
scheduling a batch's COMMIT for when the loop is free, waiting on group
commit (`durable`, and `settled` where waiting is all it does: PostgreSQL's
also opens the next batch while servers contend) and reading stored
documents.  How each begins, batches and commits its
transactions stays in its own backend (store/sqlite/database.py,
store/postgres/database.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from ..domain.documents import Doc


class DatabaseBase:
    """Expects, from the backend: `_db` (execute with `?` parameters), the
    open batch `_batch` and the one whose COMMIT is in flight `_committing`,
    each None or carrying `done`, the future its requests await, and how it
    commits: `commit()` at once, `_commit_batch(loop)` from the loop."""

    _db: Any
    _batch: Any
    _committing: Any

    def commit(self) -> None:
        raise NotImplementedError

    def _commit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError

    def _schedule_commit(self) -> None:
        """Group commit: the open batch is committed once the loop has run
        the requests already waiting (they join it); without a running loop
        (tools, tests) at once."""
        batch = self._batch
        if batch is None or batch.done is not None:  # none open, or its COMMIT already scheduled
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.commit()
            return
        batch.done = loop.create_future()
        loop.call_soon(self._commit_batch, loop)

    async def settled(self) -> None:
        """Return once no COMMIT is in flight: a request about to use the
        store waits here instead of blocking the loop in `_settle`."""
        while self._committing is not None:
            done = self._committing.done
            assert done is not None
            try:
                await asyncio.shield(done)
            except Exception:
                pass  # the requests of that batch get the error; this one may go on

    async def durable(self) -> None:
        """Return once everything this process has written so far is committed:
        a request may answer only then (it may have read what is not yet)."""
        batch = self._batch or self._committing
        if batch is not None and batch.done is not None:
            await asyncio.shield(batch.done)

    def _docs(self, sql: str, args: Iterable[Any] = ()) -> list[Doc]:
        return [json.loads(row[0]) for row in self._db.execute(sql, tuple(args))]

    def _doc(self, sql: str, args: Iterable[Any] = ()) -> Doc | None:
        row = self._db.execute(sql, tuple(args)).fetchone()
        return json.loads(row[0]) if row else None


def answer_requests(done: asyncio.Future[None] | None, error: BaseException | None) -> None:
    """Resolve the future a batch's requests await: done, or failed with `error`."""
    if done is not None and not done.done():
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
            done.exception()  # its requests get it; unawaited, it is not "never retrieved"
