from pathlib import Path

import pytest

from chartvault.errors import ConfigurationError
from chartvault.settings import load_settings


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    assert s.broker_url.startswith("sqlite-queue+sqlite:///") and s.embedded_queue
    assert s.store_path == tmp_path / "objects" and s.index_path == tmp_path / "index"
    assert s.object_store == "filesystem" and s.search_backend == "tantivy"
    assert s.search_shards == 2
    assert s.storage_key and s.secret_key  # made once, kept in the home folder
    assert load_settings({"CHARTVAULT_HOME": str(tmp_path)}).storage_key == s.storage_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CHARTVAULT_OBJECT_STORE": "tape"}, "CHARTVAULT_OBJECT_STORE"),
        ({"CHARTVAULT_OCR_DPI": "lots"}, "CHARTVAULT_OCR_DPI"),
        ({"CHARTVAULT_OCR_DPI": "-3"}, "CHARTVAULT_OCR_DPI"),
        ({"CHARTVAULT_OBJECT_STORE": "s3"}, "CHARTVAULT_S3_ENDPOINT"),
        ({"CHARTVAULT_SEARCH_BACKEND": "elasticsearch"}, "CHARTVAULT_ELASTICSEARCH_URL"),
        ({"CHARTVAULT_ENVIRONMENT": "production"}, "CHARTVAULT_SECRET_KEY"),
        ({"CHARTVAULT_MRN_PATTERN": "(["}, "CHARTVAULT_MRN_PATTERN"),
        ({"CHARTVAULT_OCR_FORCE": "maybe"}, "CHARTVAULT_OCR_FORCE"),
        ({"CHARTVAULT_OCR_ENGINE": "cuneiform"}, "CHARTVAULT_OCR_ENGINE"),
        ({"CHARTVAULT_PAGE_IMAGE_FORMAT": "gif"},
         "CHARTVAULT_PAGE_IMAGE_FORMAT.*expected one of jpeg, webp, png"),
        ({"CHARTVAULT_WORKER_MAX_MEMORY_MB": "0"}, "CHARTVAULT_WORKER_MAX_MEMORY_MB"),
        ({"CHARTVAULT_SEARCH_SHARDS": "0"}, "CHARTVAULT_SEARCH_SHARDS"),
        ({"CHARTVAULT_SEARCH_SHARDS": "two"}, "CHARTVAULT_SEARCH_SHARDS"),
        ({"CHARTVAULT_SEPARATOR_SYMBOLOGIES": "qr,pdf417"},
         "CHARTVAULT_SEPARATOR_SYMBOLOGIES: pdf417; choose from qr, code128, code39, datamatrix"),
        ({"CHARTVAULT_SEPARATOR_SYMBOLOGIES": " , "}, "CHARTVAULT_SEPARATOR_SYMBOLOGIES: none"),
    ],
)
def test_bad_settings_fail_with_the_variable_name(tmp_path: Path, env: dict, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), **env})


def test_separator_symbologies_default_and_as_set(tmp_path: Path) -> None:
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path)})
    assert s.separator_symbologies == ("qr", "code128", "code39")
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path),
                       "CHARTVAULT_SEPARATOR_SYMBOLOGIES": "QR, DataMatrix"})
    assert s.separator_symbologies == ("qr", "datamatrix")


def test_page_image_format_default_and_as_set(tmp_path: Path) -> None:
    assert load_settings({"CHARTVAULT_HOME": str(tmp_path)}).page_image_format == "jpeg"
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_PAGE_IMAGE_FORMAT": "WebP"})
    assert s.page_image_format == "webp"


def test_settings_file_is_overridden_by_environment(tmp_path: Path) -> None:
    file = tmp_path / "settings.yaml"
    file.write_text("ocr_dpi: 150\nocr_language: deu\n")
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_SETTINGS_FILE": str(file),
                       "CHARTVAULT_OCR_DPI": "400"})
    assert s.ocr_dpi == 400 and s.ocr_language == "deu"


def test_unknown_key_in_settings_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "settings.yaml"
    file.write_text("ocr_dpy: 150\n")
    with pytest.raises(ConfigurationError, match="CHARTVAULT_OCR_DPY"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_SETTINGS_FILE": str(file)})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings({"CHARTVAULT_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        s.ocr_dpi = 1  # type: ignore[misc]


def test_worker_memory_ceiling_reaches_celery(tmp_path: Path) -> None:
    from chartvault.celery_app import make_celery

    default = make_celery(load_settings({"CHARTVAULT_HOME": str(tmp_path)}))
    assert default.conf.worker_max_memory_per_child == 350 * 1024  # KiB, as Celery counts
    lower = make_celery(load_settings({"CHARTVAULT_HOME": str(tmp_path),
                                       "CHARTVAULT_WORKER_MAX_MEMORY_MB": "200"}))
    assert lower.conf.worker_max_memory_per_child == 200 * 1024
