"""Uploads are admitted on their headers, before one byte of the body is read.

The app's ``_authorize`` has already found the user from the cookie or the
bearer token; :func:`admit` then checks, in order, the CSRF token (a cookie
client sends it in ``X-CSRFToken`` or in the form's action URL, never only in
the body), the declared length (``Content-Length`` required, at most
``CHARTVAULT_MAX_BATCH_MB``), the free temporary space and the user's
concurrent uploads (``CHARTVAULT_MAX_CONCURRENT_UPLOADS``). While the body
arrives, each file is held to ``CHARTVAULT_MAX_FILE_MB`` (:class:`UploadRequest`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Request, current_app, g, request
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from chartvault.errors import ChartvaultError, PermissionDenied
from chartvault.settings import Settings

_V = TypeVar("_V", bound=Callable)
_SLOTS = "chartvault_upload_slots"
# What a request's body may cost in temporary space: the form parser's copy of each
# file, then intake's own copy (web.intake) while the originals go to the store.
TEMP_COPIES = 2


class UploadRefused(ChartvaultError):
    """An upload turned away on its headers; the body was never read."""


class LengthRequired(UploadRefused):
    code = "length_required"
    http_status = 411


class TooLarge(UploadRefused):
    code = "too_large"
    http_status = 413


class TooManyUploads(UploadRefused):
    code = "too_many_uploads"
    http_status = 429


class NoTempSpace(UploadRefused):
    code = "no_temp_space"
    http_status = 507
    retryable = True


class CsrfRequired(PermissionDenied):
    code = "csrf"
    http_status = 400


def accepts_upload(view: _V) -> _V:
    """Mark a view whose body is an upload: admitted by :func:`admit` on its headers."""
    view.chartvault_upload = True  # type: ignore[attr-defined]
    return view


def is_upload(view: Callable | None) -> bool:
    return bool(getattr(view, "chartvault_upload", False))


class _CappedFile:
    """A file part's spool that refuses to grow past the per-file limit."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner, self._limit, self._written = inner, limit, 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._written > self._limit:
            raise RequestEntityTooLarge(
                f"a file is larger than the {self._limit // 2**20} MB limit per file")
        return self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self):  # noqa: ANN204
        return iter(self._inner)


class UploadRequest(Request):
    """Flask's request, with each uploaded file held to ``max_file_mb`` as it arrives."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None
                         ) -> IO[bytes]:
        inner = super()._get_file_stream(total_content_length, content_type, filename,
                                         content_length)
        settings: Settings = current_app.config["CHARTVAULT_SETTINGS"]
        self.__dict__.setdefault("_chartvault_spools", []).append(inner)
        return _CappedFile(inner, settings.max_file_mb * 2**20)  # type: ignore[return-value]

    def close(self) -> None:
        """Also close the spools of a parse that stopped half-way (a file over the limit):
        the parser drops them without closing."""
        super().close()
        for spool in self.__dict__.pop("_chartvault_spools", []):
            spool.close()


def _check_csrf() -> None:
    if g.get("via") != "session" or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return  # a bearer token is not sent by a browser on its own: no CSRF
    token = request.headers.get("X-CSRFToken") or request.args.get("csrf_token", "")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CsrfRequired("the upload did not carry this site's CSRF token (in the "
                           "X-CSRFToken header or the form's action): reload the page") from exc


def _check_length(settings: Settings) -> int:
    length = request.content_length
    if length is None:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired("send the upload with a Content-Length, not chunked")
        length = 0  # no body at all
    limit = settings.max_batch_mb * 2**20
    if length > limit:
        raise TooLarge(f"an upload may be at most {settings.max_batch_mb} MB "
                       "(CHARTVAULT_MAX_BATCH_MB); split the batch")
    return length


def _check_temp_space(settings: Settings, length: int) -> None:
    free = shutil.disk_usage(tempfile.gettempdir()).free
    needed = length * TEMP_COPIES + settings.upload_temp_reserve_mb * 2**20
    if free < needed:
        raise NoTempSpace("the server's temporary space is nearly full: try again later "
                          "or upload fewer files at once")


def _take_slot(app: Flask, settings: Settings, user_id: int) -> None:
    lock, counts = app.extensions.setdefault(_SLOTS, (threading.Lock(), {}))
    with lock:
        if counts.get(user_id, 0) >= settings.max_concurrent_uploads:
            raise TooManyUploads(f"you already have {settings.max_concurrent_uploads} "
                                 "uploads running: wait for one to finish")
        counts[user_id] = counts.get(user_id, 0) + 1
    g.chartvault_upload_slot = user_id


def release(app: Flask) -> None:
    """Give back the request's upload slot (teardown; safe when none was taken)."""
    user_id = g.pop("chartvault_upload_slot", None)
    if user_id is None:
        return
    lock, counts = app.extensions[_SLOTS]
    with lock:
        counts[user_id] -= 1
        if counts[user_id] <= 0:
            del counts[user_id]


def admit(settings: Settings) -> None:
    """Raise an :class:`UploadRefused` (or CSRF refusal) unless this upload may be read."""
    _check_csrf()
    length = _check_length(settings)
    _check_temp_space(settings, length)
    _take_slot(current_app._get_current_object(), settings, g.user.id)  # type: ignore[attr-defined]
