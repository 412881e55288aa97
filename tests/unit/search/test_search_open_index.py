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


@pytest.mark.parametrize(("backend", "loaded", "not_loaded"), [
    ("tantivy", "search.tantivy_index", "search.elastic_index"),
    ("elasticsearch", "search.elastic_index", "search.tantivy_index")])
def test_import_backend_loads_the_configured_backend_and_opens_nothing(
        tmp_path: Path, backend: str, loaded: str, not_loaded: str) -> None:
    # In a fresh interpreter: this module has imported the Tantivy backend already.
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from chartvault.settings import Settings; "
            "from search import import_backend; "
            f"import_backend(Settings(home=Path({str(tmp_path)!r}), "
            f"index_path=Path({str(tmp_path / 'index')!r}), search_backend={backend!r})); "
            f"print({loaded!r} in sys.modules, {not_loaded!r} in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "False"]
    assert not (tmp_path / "index").exists()
