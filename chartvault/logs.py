"""Structured logs: one JSON object a line, with the ids of what is being worked on.

Context ids (``request_id``, ``batch_id``, ``document_id``, ``task_id``, ``task``)
live in a :class:`contextvars.ContextVar`, so every line logged while a request,
a batch or a Celery task is handled carries them without passing them around::

    with logs.context(batch_id=batch.id):
        log.info("batch received", extra={"count": 3})

Never a patient name, MRN, date of birth or OCR text in a log line. That is
enforced here, not left to each call site:

- only allow-listed ``extra`` fields are written (ids, counts, codes, timings);
  any other field is dropped and its *name* listed under ``dropped``;
- the message and any traceback are scrubbed: quoted values (``'...'``,
  ``"..."``), SQL parameters, dates, MRN-shaped tokens (capitals and digits, or
  the configured MRN pattern) and "SURNAME, Given" names are replaced, and long
  messages are cut.

:func:`configure` installs the JSON handler on the root logger (the CLI and the
Celery worker call it); :class:`PhiFilter` applies the same scrubbing to any
other handler.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

CONTEXT_FIELDS = ("request_id", "batch_id", "document_id", "task_id", "task")
SAFE_FIELDS = frozenset({
    *CONTEXT_FIELDS, "page", "pages", "count", "code", "status", "seq", "attempt",
    "retries", "duration_ms", "method", "endpoint", "http_status", "backend", "kind", "size",
    "hits", "action", "worker", "queue", "quarantine_id", "destruction_id", "hold_id",
    "version", "exit_code", "events", "anchors",
})
MAX_MESSAGE = 1000
MAX_TRACEBACK = 6000

_context: ContextVar[dict[str, str]] = ContextVar("chartvault_log_context", default={})  # noqa: B039

# The standard LogRecord attributes; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\[parameters: .*?\](?=\s|$)", re.S), "[parameters: <redacted>]"),
    (re.compile(r"'(?:[^'\\\n]|\\.){1,400}'"), "'<redacted>'"),
    (re.compile(r'"(?:[^"\\\n]|\\.){1,400}"'), '"<redacted>"'),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b"), "<date>"),
    (re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"), "<date>"),
    (re.compile(r"\b[A-Z][A-Za-z'-]+,\s+[A-Z][a-z]+(?:\s+[A-Z]\.?)?"), "<name>"),
    (re.compile(r"\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{5,16}\b"), "<mrn>"),
]
_extra_patterns: list[re.Pattern[str]] = []


def redact(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with anything that may be PHI replaced; cut to ``limit`` characters."""
    for pattern, replacement in _REDACTIONS:  # names before a site pattern eats a surname
        text = pattern.sub(replacement, text)
    for pattern in _extra_patterns:
        text = pattern.sub("<mrn>", text)
    if len(text) > limit:
        text = text[:limit] + f"... <{len(text) - limit} characters cut>"
    return text


def add_mrn_pattern(pattern: str) -> None:
    """Also scrub tokens matching the site's MRN pattern (``CHARTVAULT_MRN_PATTERN``)."""
    body = pattern.strip().removeprefix("^").removesuffix("$")
    try:
        compiled = re.compile(rf"(?<![\w-])(?:{body})(?![\w-])")
    except re.error:
        return
    if compiled.pattern not in {p.pattern for p in _extra_patterns}:
        _extra_patterns.append(compiled)


# context ------------------------------------------------------------------------------


def bind(**ids: object) -> Token:
    """Add ids to the log context; returns a token for :func:`unbind`."""
    current = dict(_context.get())
    for name, value in ids.items():
        if name not in CONTEXT_FIELDS:
            raise ValueError(f"{name} is not a log context field ({', '.join(CONTEXT_FIELDS)})")
        if value is None:
            current.pop(name, None)
        else:
            current[name] = str(value)
    return _context.set(current)


def unbind(token: Token) -> None:
    _context.reset(token)


@contextmanager
def context(**ids: object) -> Iterator[None]:
    token = bind(**ids)
    try:
        yield
    finally:
        unbind(token)


def current() -> dict[str, str]:
    return dict(_context.get())


# filter and formatter -----------------------------------------------------------------


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value), 200)


def _extras(record: logging.LogRecord) -> tuple[dict[str, Any], list[str]]:
    kept, dropped = {}, []
    for name, value in vars(record).items():
        if name in _STANDARD or name.startswith("_"):
            continue
        if name in SAFE_FIELDS:
            kept[name] = _safe_value(value)
        else:
            dropped.append(name)
    return kept, sorted(dropped)


class PhiFilter(logging.Filter):
    """Scrub a record in place (message, args, traceback, extras) for any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_chartvault_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info),
                                     MAX_TRACEBACK)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, MAX_TRACEBACK)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, MAX_TRACEBACK)
        _, dropped = _extras(record)
        for name in dropped:
            delattr(record, name)
        for name in SAFE_FIELDS & set(vars(record)):
            setattr(record, name, _safe_value(getattr(record, name)))
        record._chartvault_scrubbed = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, context ids, safe extras."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(message),
        }
        line.update(_context.get())
        extras, dropped = _extras(record)
        line.update(extras)
        if dropped:
            line["dropped"] = dropped
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["exc"] = redact(self.formatException(record.exc_info), MAX_TRACEBACK)
        elif record.exc_text:
            line["exc"] = redact(record.exc_text, MAX_TRACEBACK)
        if record.stack_info:
            line["stack"] = redact(record.stack_info, MAX_TRACEBACK)
        return json.dumps(line, ensure_ascii=False, default=str)


# set-up -------------------------------------------------------------------------------

_HANDLER_NAME = "chartvault-json"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(level: str | int = "INFO", stream: TextIO | None = None,
              mrn_pattern: str | None = None) -> logging.Handler:
    """Send every log record (root logger) as JSON lines to ``stream`` (stderr).

    Idempotent: a second call replaces the handler installed by the first.
    """
    if mrn_pattern:
        add_mrn_pattern(mrn_pattern)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PhiFilter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # migrations run on every start; their INFO lines are noise
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler


# Celery and Flask hooks ---------------------------------------------------------------

_ID = re.compile(r"^[0-9a-f]{32}$")
_task_tokens: dict[str, Token] = {}


def task_started(task_id: str | None, task_name: str | None, args: Any = None,
                 kwargs: Any = None) -> None:
    """Celery ``task_prerun``: task id and name, and the document id of an id-only task."""
    document_id = (kwargs or {}).get("document_id")
    if document_id is None and args and isinstance(args[0], str) and _ID.match(args[0]):
        document_id = args[0]
    batch_id = (kwargs or {}).get("batch_id")
    token = bind(task_id=task_id, task=task_name, document_id=document_id,
                 batch_id=batch_id)
    if task_id:
        _task_tokens[task_id] = token


def task_finished(task_id: str | None) -> None:
    """Celery ``task_postrun``."""
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            unbind(token)
        except ValueError:  # reset from another context: start clean instead
            _context.set({})


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def init_flask(app: Any) -> None:
    """Give every request an id (``X-Request-ID`` if well-formed, else new), bind it,
    echo it in the response, and log one access line (endpoint, never the path or
    query string, which can hold an MRN or a name)."""
    from flask import g, request

    access = logging.getLogger("chartvault.web.access")

    @app.before_request
    def _bind_request() -> None:
        wanted = request.headers.get("X-Request-ID", "")
        request_id = wanted if _REQUEST_ID.match(wanted) else uuid.uuid4().hex
        g.chartvault_log_token = bind(request_id=request_id)
        g.chartvault_request_id = request_id
        g.chartvault_started = time.perf_counter()

    @app.after_request
    def _log_request(response):  # noqa: ANN001, ANN202
        request_id = g.get("chartvault_request_id")
        if request_id:
            response.headers.setdefault("X-Request-ID", request_id)
            started = g.get("chartvault_started", time.perf_counter())
            access.info("request", extra={
                "method": request.method, "endpoint": request.endpoint or "-",
                "http_status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        return response

    @app.teardown_request
    def _unbind_request(_exc: BaseException | None) -> None:
        token = g.pop("chartvault_log_token", None)
        if token is not None:
            try:
                unbind(token)
            except ValueError:
                _context.set({})
