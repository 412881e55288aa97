"""Structured logs: context ids, JSON lines, and no PHI whatever the call site does."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import pytest

from chartvault import logs

NAME, MRN, DOB = "TESTPATIENT, Alice Q.", "TST000123", date(1970, 1, 2)


@pytest.fixture
def capture():  # noqa: ANN201
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("chartvault.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, lines, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_context_ids_ride_along(capture) -> None:  # noqa: ANN001
    logger, lines, _ = capture
    with logs.context(batch_id="b" * 32):
        with logs.context(document_id="d" * 32, task_id="t-1"):
            logger.info("page done", extra={"page": 3, "duration_ms": 812.5})
        logger.info("batch done")
    logger.info("outside")
    first, second, third = lines()
    assert first["batch_id"] == "b" * 32 and first["document_id"] == "d" * 32
    assert first["page"] == 3 and first["duration_ms"] == 812.5 and first["level"] == "info"
    assert "document_id" not in second and second["batch_id"] == "b" * 32
    assert "batch_id" not in third
    with pytest.raises(ValueError):
        logs.bind(patient_name=NAME)


@pytest.mark.parametrize("site_pattern", [None, r"^[A-Z0-9]{6,12}$"])
def test_phi_never_reaches_a_line(capture, site_pattern) -> None:  # noqa: ANN001
    logger, lines, stream = capture
    logs._extra_patterns.clear()
    if site_pattern:
        logs.add_mrn_pattern(site_pattern)  # the default CHARTVAULT_MRN_PATTERN
    ocr = "Patient seen today for follow-up of essential hypertension"
    logger.info("ingest of %s for %s born %s", "chart.pdf", MRN, DOB)
    logger.warning("bad name %r", NAME)
    logger.info(f"Patient: {NAME}    MRN: {MRN}")  # an f-string slips through review
    logger.info("text was %r", ocr)
    logger.info("extra fields", extra={"patient_name": NAME, "mrn": MRN, "text": ocr,
                                       "code": "ok", "count": 2})
    try:
        raise ValueError(f"cannot parse {MRN!r} / {DOB.isoformat()}: {ocr!r}")
    except ValueError:
        logger.exception("failed")
    sql = ("(psycopg.errors.UniqueViolation) duplicate key [SQL: INSERT INTO patient "
           "(mrn, name) VALUES (%(mrn)s, %(name)s)] [parameters: {'mrn': 'TST000123', "
           "'name': 'TESTPATIENT, Alice Q.'}]")
    logger.error(sql)
    text = stream.getvalue()
    for secret in (MRN, "TESTPATIENT", "1970-01-02", "hypertension", "Alice"):
        assert secret not in text, secret
    records = lines()
    assert records[4]["dropped"] == ["mrn", "patient_name", "text"]
    assert records[4]["code"] == "ok" and records[4]["count"] == 2
    assert records[5]["exc_type"] == "ValueError" and "Traceback" in records[5]["exc"]
    assert "[parameters: <redacted>]" in records[6]["msg"]
    logs._extra_patterns.clear()


def test_site_mrn_pattern_is_scrubbed_too(capture) -> None:  # noqa: ANN001
    logger, _, stream = capture
    logs.add_mrn_pattern(r"^\d{8}$")
    logger.info("patient 12345678 and document 0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    out = stream.getvalue()
    assert "12345678" not in out and "0a1b2c3d4e5f60718293a4b5c6d7e8f9" in out
    logs._extra_patterns.clear()


def test_filter_scrubs_records_for_any_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mrn %s name %s", (MRN, NAME),
                               None)
    record.patient = NAME
    assert logs.PhiFilter().filter(record)
    assert MRN not in record.getMessage() and "TESTPATIENT" not in record.getMessage()
    assert not hasattr(record, "patient")


def test_configure_installs_one_handler_and_celery_hooks_bind_ids() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    try:
        logs.configure("INFO", stream)
        handler = logs.configure("INFO", stream)
        assert sum(h.get_name() == "chartvault-json" for h in root.handlers) == 1
        logs.task_started("task-1", "ocr.process_page", ["c" * 32, 2], {})
        logging.getLogger("chartvault.test").info("working")
        logs.task_finished("task-1")
        logging.getLogger("chartvault.test").info("idle")
        working, idle = (json.loads(line) for line in stream.getvalue().splitlines())
        assert working["task_id"] == "task-1" and working["document_id"] == "c" * 32
        assert working["task"] == "ocr.process_page"
        assert "task_id" not in idle
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_flask_requests_get_an_id_and_an_access_line() -> None:
    from flask import Flask

    app = Flask(__name__)
    logs.init_flask(app)
    seen = {}

    @app.get("/patients/<mrn>")
    def patient(mrn: str):  # noqa: ANN202
        seen.update(logs.current())
        return "ok"

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    access = logging.getLogger("chartvault.web.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        response = app.test_client().get(f"/patients/{MRN}?q=TESTPATIENT",
                                          headers={"X-Request-ID": "req-12345678"})
    finally:
        access.removeHandler(handler)
    assert response.headers["X-Request-ID"] == "req-12345678"
    assert seen["request_id"] == "req-12345678" and logs.current() == {}
    line = json.loads(stream.getvalue())
    assert line["endpoint"] == "patient" and line["http_status"] == 200
    assert MRN not in stream.getvalue() and "TESTPATIENT" not in stream.getvalue()


def test_default_handler_follows_sys_stderr(monkeypatch) -> None:  # noqa: ANN001
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("INFO")
    try:
        for _ in range(2):  # a test runner swapping stderr must not leave a closed stream
            swapped = io.StringIO()
            monkeypatch.setattr("sys.stderr", swapped)
            logging.getLogger("chartvault.test").info("hello")
            assert json.loads(swapped.getvalue())["msg"] == "hello"
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
