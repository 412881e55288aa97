"""Finding 1 of issue 22: an upload is admitted on its headers before its body is
read (who, CSRF, size, temp space, concurrent uploads), and each file is held to
the per-file limit while it arrives. The last test drives a real ``chartvault
serve``: an anonymous 200 MB POST is answered 401 after its headers, with nothing
written to the temporary folder."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from web_support import sign_in

BIG = 200 * 2**20
MULTIPART = "multipart/form-data; boundary=xyz"


class Untouchable(io.RawIOBase):
    """A request body of ``length`` bytes that fails the test if anyone reads it (it can
    be measured: the test client seeks to its end to learn its length)."""

    def __init__(self, length: int) -> None:
        self.length, self.position, self.reads = length, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: offset, 1: self.position + offset, 2: self.length + offset}[whence]
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:  # noqa: ANN001
        self.reads += 1
        raise AssertionError("the upload body was read")


def _post_unread(client, path: str, length: int = BIG, **headers: str):  # noqa: ANN001, ANN202
    body = Untouchable(length)
    response = client.post(path, input_stream=body, content_type=MULTIPART, headers=headers)
    return response, body


@pytest.fixture
def strict_app(settings):  # noqa: ANN001, ANN201
    """The app with CSRF checks on, as served."""
    from web import create_app

    return create_app(test_config={"TESTING": True}, settings=settings)


def test_anonymous_uploads_are_refused_unread(strict_app) -> None:  # noqa: ANN001
    client = strict_app.test_client()
    response, body = _post_unread(client, "/api/batches")
    assert response.status_code == 401 and body.reads == 0
    response, body = _post_unread(client, "/upload")
    assert response.status_code == 302 and "/login" in response.location and body.reads == 0


def test_a_large_body_sent_to_a_form_is_refused_unread(strict_app) -> None:  # noqa: ANN001
    """Only the upload routes take large bodies: the sign-in form's CSRF check, for one,
    never reads (nor spools) a 200 MB body."""
    client = strict_app.test_client()
    for path in ("/login", "/logout", "/quarantine/" + "0" * 32 + "/discard"):
        response, body = _post_unread(client, path)
        assert response.status_code in (302, 413) and body.reads == 0, path


def test_a_bad_token_is_refused_unread(strict_app, users) -> None:  # noqa: ANN001
    response, body = _post_unread(strict_app.test_client(), "/api/batches",
                                  Authorization="Bearer cv_not_a_token")
    assert response.status_code == 401 and body.reads == 0


def test_a_cookie_upload_without_the_csrf_header_is_refused_unread(strict_app, users
                                                                    ) -> None:  # noqa: ANN001
    client = strict_app.test_client()
    sign_in(client, users["clerk"])
    for path in ("/upload", "/api/batches"):
        response, body = _post_unread(client, path)
        assert response.status_code == 400 and body.reads == 0, path
        assert b"csrf" in response.data.lower()


def test_a_role_that_may_not_upload_is_refused_unread(strict_app, users, settings) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(settings) as db:
        token = accounts.new_token(db, "staff", "test")
    response, body = _post_unread(strict_app.test_client(), "/api/batches",
                                  Authorization=f"Bearer {token}")
    assert response.status_code == 403 and body.reads == 0


def _clerk_token(settings) -> str:  # noqa: ANN001
    from chartvault.db import session_scope
    from web import accounts

    with session_scope(settings) as db:
        return accounts.new_token(db, "clerk", "test")


def test_a_declared_length_over_the_batch_limit_is_refused_unread(settings, users) -> None:  # noqa: ANN001
    from web import create_app

    app = create_app(test_config={"TESTING": True},
                     settings=settings.replace(max_batch_mb=100))
    token = _clerk_token(settings)
    response, body = _post_unread(app.test_client(), "/api/batches", length=BIG,
                                  Authorization=f"Bearer {token}")
    assert response.status_code == 413 and body.reads == 0
    assert "CHARTVAULT_MAX_BATCH_MB" in response.get_json()["error"]["message"]
    response, body = _post_unread(app.test_client(), "/api/batches", length=0,
                                  Authorization=f"Bearer {token}",
                                  **{"Transfer-Encoding": "chunked"})
    assert response.status_code == 411 and body.reads == 0


def test_no_upload_when_the_temporary_folder_is_nearly_full(settings, users) -> None:  # noqa: ANN001
    import shutil
    import tempfile

    from web import create_app

    free_mb = shutil.disk_usage(tempfile.gettempdir()).free // 2**20
    app = create_app(test_config={"TESTING": True},
                     settings=settings.replace(upload_temp_reserve_mb=free_mb + 1))
    response, body = _post_unread(app.test_client(), "/api/batches", length=2**20,
                                  Authorization=f"Bearer {_clerk_token(settings)}")
    assert response.status_code == 507 and body.reads == 0
    assert response.get_json()["error"]["retryable"] is True


def test_each_file_is_held_to_the_per_file_limit(settings, users, tmp_path) -> None:  # noqa: ANN001
    from web import create_app

    app = create_app(test_config={"TESTING": True}, settings=settings.replace(max_file_mb=1))
    token = _clerk_token(settings)
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    big = FileStorage(io.BytesIO(b"%PDF-1.4\n" + b"0" * (2**20 + 10)), "big.pdf")
    boundary, body = encode_multipart({"files": big})  # in memory: nothing left open
    with app.test_client().post("/api/batches", headers={"Authorization": f"Bearer {token}"},
                                input_stream=io.BytesIO(body),
                                content_type=f"multipart/form-data; boundary={boundary}") as r:
        assert r.status_code == 413
        assert "1 MB limit per file" in r.get_json()["error"]["message"]


def test_concurrent_uploads_per_user_are_limited(settings, users, monkeypatch) -> None:  # noqa: ANN001
    import web.api
    from web import create_app

    app = create_app(test_config={"TESTING": True},
                     settings=settings.replace(max_concurrent_uploads=1))
    token = _clerk_token(settings)
    entered, release = threading.Event(), threading.Event()

    def slow_ingest(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        entered.set()
        release.wait(30)
        from chartvault.errors import BadInput
        raise BadInput("stopped by the test", code="no_files")

    monkeypatch.setattr(web.api, "ingest_uploads", slow_ingest)
    first: list[int] = []

    def upload() -> None:
        with app.test_client().post("/api/batches", headers={"Authorization": f"Bearer {token}"},
                                    data={"mrn": "x"}) as r:
            first.append(r.status_code)

    worker = threading.Thread(target=upload)
    worker.start()
    assert entered.wait(30), first
    try:
        response, body = _post_unread(app.test_client(), "/api/batches", length=1000,
                                      Authorization=f"Bearer {token}")
        assert response.status_code == 429 and body.reads == 0
        assert response.get_json()["error"]["code"] == "too_many_uploads"
    finally:
        release.set()
        worker.join(30)
    assert first == [422]
    with app.test_client().post("/api/batches", headers={"Authorization": f"Bearer {token}"},
                                data={"mrn": "x"}) as r:
        assert r.status_code == 422  # the slot came back


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(cv_env, tmp_path: Path):  # noqa: ANN001, ANN201
    """``chartvault serve --no-workers`` with its own, watched temporary folder."""
    temp = tmp_path / "server-tmp"
    temp.mkdir()
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(temp)}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "chartvault", "serve", "--no-workers",
                                "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail((tmp_path / "serve.log").read_text()[-2000:])
            time.sleep(0.3)
    yield port, temp
    process.terminate()
    process.wait(30)
    log.close()


def _temp_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_served_anonymous_200_mb_upload_is_refused_after_its_headers(served) -> None:  # noqa: ANN001
    port, temp = served
    before = _temp_bytes(temp)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST /api/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: {MULTIPART}\r\nContent-Length: {BIG}\r\n\r\n").encode())
        sock.sendall(b"--xyz\r\n" + b"0" * 65536)  # the start of the body, not the rest
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 401"), answer[:300]
    assert _temp_bytes(temp) - before < 2**20  # nothing of the body was spooled
