from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from portside.store.interface import Store

from store_backends import BACKENDS, Backend


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
