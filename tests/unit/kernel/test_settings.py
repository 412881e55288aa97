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
        ({"CHARTVAULT_ENVIRONMENT": "production",
          "CHARTVAULT_DATABASE_URL": "postgresql+psycopg://cv@db/cv",
          "CHARTVAULT_BROKER_URL": "redis://redis:6379/0",
          "CHARTVAULT_OBJECT_STORE": "filesystem", "CHARTVAULT_SEARCH_BACKEND": "tantivy"},
         "CHARTVAULT_SECRET_KEY"),
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


KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes
PRODUCTION = {"CHARTVAULT_ENVIRONMENT": "production", "CHARTVAULT_SECRET_KEY": "s" * 32,
              "CHARTVAULT_STORAGE_KEY": KEY,
              "CHARTVAULT_DATABASE_URL": "postgresql+psycopg://cv@db/cv",
              "CHARTVAULT_BROKER_URL": "redis://redis:6379/0",
              "CHARTVAULT_OBJECT_STORE": "filesystem", "CHARTVAULT_SEARCH_BACKEND": "tantivy"}


@pytest.mark.parametrize(("typo", "meant"), [
    ("CHARTVAULT_OBJECTSTORE", "CHARTVAULT_OBJECT_STORE"),
    ("CHARTVAULT_OCR_DPY", "CHARTVAULT_OCR_DPI"),
    ("CHARTVAULT_DEFAULT_RETENTION_YEAR", "CHARTVAULT_DEFAULT_RETENTION_YEARS"),
    ("CHARTVAULT_WORKER_MAX_MEMORY", "CHARTVAULT_WORKER_MAX_MEMORY_MB"),
])
def test_unknown_variable_stops_start_up_naming_the_right_one(tmp_path, typo, meant):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"CHARTVAULT_HOME": str(tmp_path), typo: "s3"})
    assert str(caught.value.message) == f"unknown setting {typo}; did you mean {meant}?"


def test_unknown_variable_far_from_any_name_points_at_the_table(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown setting CHARTVAULT_FLUX_CAPACITOR; "
                                                 "see the settings table"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_FLUX_CAPACITOR": "1"})


def test_unknown_settings_file_key_names_the_file_and_the_right_variable(tmp_path):
    file = tmp_path / "settings.yaml"
    file.write_text("objectstore: s3\n")
    with pytest.raises(ConfigurationError, match=r"unknown setting CHARTVAULT_OBJECTSTORE; "
                       r"did you mean CHARTVAULT_OBJECT_STORE\?.*settings.yaml"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_SETTINGS_FILE": str(file)})


def test_variables_that_are_not_settings_stay_allowed(tmp_path):
    # scripts/setup.sh, chartvault.workers and bench/worker_probe set these
    load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_ADMIN_PASSWORD": "x",
                   "CHARTVAULT_STARTED_BY": "1", "CHARTVAULT_BENCH_PROBE": "/tmp/p"})


@pytest.mark.parametrize(("name", "value"), [
    ("CHARTVAULT_DEFAULT_RETENTION_YEARS", "-1"), ("CHARTVAULT_DEFAULT_RETENTION_YEARS", "0"),
    ("CHARTVAULT_DEFAULT_RETENTION_YEARS", "1000"), ("CHARTVAULT_OCR_DPI", "5"),
    ("CHARTVAULT_OCR_DPI", "100000"), ("CHARTVAULT_OCR_CONFIDENCE_THRESHOLD", "101"),
    ("CHARTVAULT_MAX_PAGES", "0"), ("CHARTVAULT_BROKER_VISIBILITY_TIMEOUT", "0"),
    ("CHARTVAULT_WORKER_CONCURRENCY", "0"), ("CHARTVAULT_SESSION_TIMEOUT_MINUTES", "-5"),
    ("CHARTVAULT_HOT_FOLDER_INTERVAL", "0"), ("CHARTVAULT_SEPARATOR_DPI", "9999"),
])
def test_numbers_out_of_range_are_refused(tmp_path, name, value):
    with pytest.raises(ConfigurationError, match=f"{name} must be between"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), name: value})


@pytest.mark.parametrize("left_out", ["CHARTVAULT_DATABASE_URL", "CHARTVAULT_BROKER_URL",
                                      "CHARTVAULT_OBJECT_STORE", "CHARTVAULT_SEARCH_BACKEND"])
def test_production_refuses_an_implicit_embedded_backend(tmp_path, left_out):
    env = {"CHARTVAULT_HOME": str(tmp_path), **PRODUCTION}
    del env[left_out]
    with pytest.raises(ConfigurationError, match=f"{left_out} must be set in production"):
        load_settings(env)
    assert load_settings({"CHARTVAULT_HOME": str(tmp_path), **PRODUCTION}).object_store == \
        "filesystem"  # named: allowed


@pytest.mark.parametrize(("key", "why"), [("not base64!", "not valid base64"),
                                          ("c2hvcnQ=", "32 bytes")])
def test_storage_key_is_parsed_at_start_up(tmp_path, key, why):
    with pytest.raises(ConfigurationError, match=f"CHARTVAULT_STORAGE_KEY: .*{why}"):
        load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_STORAGE_KEY": key})
