"""open_index picks the backend from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartvault.errors import ConfigurationError
from chartvault.settings import Settings
from search import SearchIndex, open_index
from search.tantivy_index import TantivyIndex


def test_tantivy_is_the_default(tmp_path: Path) -> None:
    index = open_index(Settings(home=tmp_path, index_path=tmp_path / "index"))
    assert isinstance(index, TantivyIndex)
    assert isinstance(index, SearchIndex)
    assert index.count() == 0


def test_shards_come_from_the_settings_and_one_shot_searches_in_process(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, index_path=tmp_path / "index", search_shards=3)
    index = open_index(settings)
    assert sorted(p.name for p in (tmp_path / "index").glob("shard-*")) == [
        "shard-0", "shard-1", "shard-2"]
    assert index._pool is not None  # noqa: SLF001
    index.close()
    one_shot = open_index(settings, one_shot=True)
    assert one_shot._pool is None  # noqa: SLF001
    one_shot.close()


def test_unknown_backend_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CHARTVAULT_SEARCH_BACKEND"):
        open_index(Settings(home=tmp_path, search_backend="solr"))
