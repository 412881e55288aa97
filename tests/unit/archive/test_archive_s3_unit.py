"""S3 backend pieces that need no server: dates, error translation, retries, settings."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import urllib3
from minio.error import S3Error

from archive import (
    ObjectLocked,
    ObjectNotFound,
    StorageRejected,
    StorageUnavailable,
    open_store,
)
from archive.s3 import S3Store, _translate, parse_s3_time
from chartvault.errors import ConfigurationError
from chartvault.settings import Settings


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T07:22:33.462000000Z", datetime(2026, 11, 22, 7, 22, 33, 462000, tzinfo=UTC)),
    ("2026-11-22T07:22:33.123456789Z", datetime(2026, 11, 22, 7, 22, 33, 123456, tzinfo=UTC)),
    ("2026-11-22T07:22:33Z", datetime(2026, 11, 22, 7, 22, 33, tzinfo=UTC)),
    ("2026-11-22T07:22:33.5Z", datetime(2026, 11, 22, 7, 22, 33, 500000, tzinfo=UTC)),
    ("2026-11-22T08:22:33.000+01:00", datetime(2026, 11, 22, 7, 22, 33, tzinfo=UTC)),
])
def test_parse_s3_time_accepts_rgw_nanoseconds(text, expected):
    assert parse_s3_time(text) == expected


def test_parse_s3_time_refuses_garbage():
    with pytest.raises(ValueError):
        parse_s3_time("yesterday")


def _s3_error(code: str, status: int, message: str = "") -> S3Error:
    return S3Error(SimpleNamespace(status=status), code, message, "/b/k", "req", "host")


@pytest.mark.parametrize("code, status, what, error", [
    ("NoSuchKey", 404, "stat k", ObjectNotFound),
    ("NoSuchVersion", 404, "get k", ObjectNotFound),
    ("AccessDenied", 403, "delete k (v)", ObjectLocked),
    ("AccessDenied", 403, "put k", ConfigurationError),
    ("InvalidAccessKeyId", 403, "stat k", ConfigurationError),
    ("SlowDown", 503, "stat k", StorageUnavailable),
    ("InternalError", 500, "stat k", StorageUnavailable),
    ("BadRequest", 400, "stat k", StorageRejected),
])
def test_vendor_errors_are_translated(code, status, what, error):
    translated = _translate(_s3_error(code, status), what)
    assert type(translated) is error
    assert what in translated.message


def test_connection_errors_are_unavailable():
    exc = urllib3.exceptions.MaxRetryError(None, "/", "connection refused")
    assert isinstance(_translate(exc, "stat k"), StorageUnavailable)


class _FlakyClient:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures, self.calls = failures, 0

    def stat_object(self, *args, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "stat result"


def test_transient_failures_are_retried(monkeypatch):
    monkeypatch.setattr("archive.s3.time.sleep", lambda seconds: None)
    client = _FlakyClient([_s3_error("SlowDown", 503), urllib3.exceptions.ProtocolError("reset")])
    store = S3Store(client, "bucket")
    assert store._call("stat k", client.stat_object, "bucket", "k") == "stat result"
    assert client.calls == 3


def test_lasting_outage_becomes_storage_unavailable(monkeypatch):
    monkeypatch.setattr("archive.s3.time.sleep", lambda seconds: None)
    client = _FlakyClient([_s3_error("ServiceUnavailable", 503)] * 10)
    store = S3Store(client, "bucket", attempts=4)
    with pytest.raises(StorageUnavailable) as raised:
        store._call("stat k", client.stat_object, "bucket", "k")
    assert client.calls == 4 and raised.value.retryable


def test_permanent_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr("archive.s3.time.sleep", lambda seconds: None)
    client = _FlakyClient([_s3_error("NoSuchKey", 404)])
    with pytest.raises(ObjectNotFound):
        S3Store(client, "bucket")._call("stat k", client.stat_object, "bucket", "k")
    assert client.calls == 1


def test_open_store_s3_connects_lazily(tmp_path):
    settings = Settings(home=tmp_path, object_store="s3", s3_endpoint="http://127.0.0.1:9",
                        s3_access_key="a", s3_secret_key="b", s3_bucket="charts")
    store = open_store(settings)
    assert isinstance(store, S3Store) and store.bucket == "charts"


@pytest.mark.parametrize("changes", [
    {"s3_endpoint": "ftp://host"},
    {"s3_encryption": "sse-c", "storage_key": ""},
    {"s3_encryption": "sse-c", "storage_key": "c2hvcnQ="},
])
def test_bad_s3_settings_are_configuration_errors(tmp_path, changes):
    settings = Settings(home=tmp_path, object_store="s3", s3_endpoint="http://127.0.0.1:9",
                        s3_access_key="a", s3_secret_key="b").replace(**changes)
    with pytest.raises(ConfigurationError):
        open_store(settings)


@pytest.mark.parametrize("bucket", ["ka", "Upper", "under_score", "a" * 64, "dots..dots"])
def test_bad_bucket_name_names_the_variable(bucket):
    with pytest.raises(ConfigurationError, match="CHARTVAULT_S3_BUCKET"):
        S3Store.connect("http://127.0.0.1:9", "a", "b", bucket)
