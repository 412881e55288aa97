"""Fixtures for the retention tests: a store, an index and a seeder on a fresh install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tests.support.retention_seed import Seeder, add_users  # noqa: E402


@pytest.fixture
def store(settings):  # noqa: ANN001, ANN201
    from archive import open_store

    return open_store(settings)


@pytest.fixture
def index(settings):  # noqa: ANN001, ANN201
    from search import open_index

    idx = open_index(settings)
    yield idx
    idx.close()


@pytest.fixture
def seeder(settings, store, index) -> Seeder:  # noqa: ANN001
    add_users(settings)
    return Seeder(settings, store, index)
