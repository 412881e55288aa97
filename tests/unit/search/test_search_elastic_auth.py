"""Elasticsearch with security on: the settings' user and password reach the cluster as
HTTP basic auth, and a refusal is a clear SearchUnavailable. A loopback server that
answers like a secured cluster stands in for it (it only has to read one header)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chartvault.errors import ConfigurationError
from chartvault.settings import load_settings
from search import SearchUnavailable, open_index

USER, PASSWORD = "chartvault-app", "s3cret-for-tests"


class _Secured(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"error": {"type": "security_exception", "reason": "missing "
                                     "authentication credentials"}, "status": 401}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _answer


@pytest.fixture
def secured_url() -> Iterator[str]:
    _Secured.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Secured)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, url: str, **extra: str):  # noqa: ANN202
    return load_settings({"CHARTVAULT_HOME": str(tmp_path), "CHARTVAULT_SEARCH_BACKEND":
                          "elasticsearch", "CHARTVAULT_ELASTICSEARCH_URL": url, **extra})


def test_the_settings_credentials_are_sent(tmp_path: Path, secured_url: str) -> None:
    settings = _settings(tmp_path, secured_url, CHARTVAULT_ELASTICSEARCH_USERNAME=USER,
                         CHARTVAULT_ELASTICSEARCH_PASSWORD=PASSWORD)
    with pytest.raises(SearchUnavailable, match="401"):
        open_index(settings)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert _Secured.seen and set(_Secured.seen) == {expected}


def test_without_credentials_none_are_sent(tmp_path: Path, secured_url: str) -> None:
    with pytest.raises(SearchUnavailable, match="401"):
        open_index(_settings(tmp_path, secured_url))
    assert _Secured.seen and set(_Secured.seen) == {None}


@pytest.mark.parametrize(("extra", "named"), [
    ({"CHARTVAULT_ELASTICSEARCH_USERNAME": USER}, "CHARTVAULT_ELASTICSEARCH_PASSWORD"),
    ({"CHARTVAULT_ELASTICSEARCH_PASSWORD": PASSWORD}, "CHARTVAULT_ELASTICSEARCH_USERNAME"),
    ({"CHARTVAULT_ENVIRONMENT": "production", "CHARTVAULT_SECRET_KEY": "k",
      "CHARTVAULT_STORAGE_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      "CHARTVAULT_DATABASE_URL": "postgresql://cv@127.0.0.1/cv",
      "CHARTVAULT_BROKER_URL": "redis://127.0.0.1:6379/0",
      "CHARTVAULT_OBJECT_STORE": "filesystem"},
     "CHARTVAULT_ELASTICSEARCH_PASSWORD is required"),
])
def test_credentials_are_checked_at_start(tmp_path: Path, extra: dict, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        _settings(tmp_path, "http://127.0.0.1:9", **extra)
