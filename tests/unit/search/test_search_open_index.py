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


def test_unknown_backend_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CHARTVAULT_SEARCH_BACKEND"):
        open_index(Settings(home=tmp_path, search_backend="solr"))
