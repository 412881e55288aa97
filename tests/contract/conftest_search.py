"""Fixtures for the SearchIndex contract suite: every backend that can run here.

Elasticsearch cannot be installed on the development machine; the suite runs the
real Elasticsearch backend against osmem-server (an in-memory OpenSearch-compatible
server from PyPI) started once per session on 127.0.0.1 behind a loopback shim
that rewrites the client's ``application/vnd.elasticsearch+json`` media types.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from osmem import StandInUnavailable, elasticsearch_stand_in  # noqa: E402

from search import SearchIndex  # noqa: E402

BACKENDS = ["tantivy", pytest.param("elasticsearch", marks=pytest.mark.integration)]


@pytest.fixture(scope="session")
def es_stand_in_url() -> Iterator[str]:
    try:
        with elasticsearch_stand_in() as url:
            yield url
    except StandInUnavailable as exc:
        pytest.skip(f"no Elasticsearch stand-in: osmem-server could not start ({exc})")


@pytest.fixture(params=BACKENDS)
def search_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    if request.param == "tantivy":
        from search.tantivy_index import TantivyIndex

        index: SearchIndex = TantivyIndex(tmp_path / "index")
    else:
        from search.elastic_index import ElasticIndex

        url = request.getfixturevalue("es_stand_in_url")
        index = ElasticIndex(url, f"cv-test-{uuid.uuid4().hex[:8]}")
    yield index
    index.close()


@pytest.fixture
def backend_name(search_index: SearchIndex) -> str:
    return "elasticsearch" if type(search_index).__name__ == "ElasticIndex" else "tantivy"
