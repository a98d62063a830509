"""The store backends the contract tests run against.

A backend is a way to make a fresh, empty place for one test's data and to
open (or reopen) a store kept there.  To test another backend with the same
tests, append a `Backend` to BACKENDS (and make `unavailable` say why it
cannot run, e.g. no PostgreSQL server, so the tests skip with that reason
rather than fail where it is absent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portside.server.runner import encode_task
from portside.store.interface import Store
from portside.store.sqlite import SqliteStore
from portside.testing import postgres


@dataclass(frozen=True)
class Backend:
    name: str
    new_location: Callable[[Path], str]  # a fresh, empty place (a temporary directory to use is given)
    open: Callable[[str], Store]  # open the store kept at a location (again: the same data)
    unavailable: Callable[[], str | None] = lambda: None  # why it cannot run here, or None


SQLITE = Backend(
    name="sqlite",
    new_location=lambda tmp: str(tmp / "state.db"),
    open=lambda location: SqliteStore(Path(location), encode_task=encode_task),
)


def _open_postgres(location: str) -> Store:
    from portside.store.postgres import PostgresStore  # psycopg only when it runs

    return PostgresStore(location, encode_task=encode_task, key_file=postgres.key_file(location))


POSTGRES = Backend(
    name="postgres",
    new_location=lambda tmp: postgres.fresh_database(),  # on one cluster for the session
    open=_open_postgres,
    unavailable=postgres.unavailable,
)

BACKENDS: list[Backend] = [SQLITE, POSTGRES]


# The fixtures the contract tests use (imported by name there: a conftest.py
# here would shadow the top-level one the other tests import from).


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    reason = request.param.unavailable()
    if reason:
        pytest.skip(f"{request.param.name}: {reason}")
    return request.param


@pytest.fixture
def location(backend: Backend, tmp_path: Path) -> str:
    return backend.new_location(tmp_path)


@pytest.fixture
def store(backend: Backend, location: str) -> Iterator[Store]:
    opened = backend.open(location)
    try:
        yield opened
    finally:
        opened.close()
