"""Every intake check's refusal, one bad input each (ingest/checks.py): the code, and a
reason that names the uploaded file, never a temporary path."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from chartvault.errors import BadInput
from ingest.checks import check_extension, check_name, check_pdf_active_content, check_polyglot
from tests.support.ingest_corpus import damaged_object, hidden_javascript


def _refused(call, *args) -> BadInput:  # noqa: ANN001
    with pytest.raises(BadInput) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize("name", ["../../etc/passwd.pdf", "a\\b.pdf", "bad\x00name.pdf",
                                  "two\nlines.pdf", "", ".."])
def test_unsafe_names_are_refused(name):
    assert _refused(check_name, name).code == "unsafe_filename"


def test_extension_naming_another_format_is_refused():
    error = _refused(check_extension, "chart.pdf", "jpeg")
    assert error.code == "type_mismatch" and "chart.pdf" in error.message


def test_zip_in_front_and_behind_are_refused(tmp_path, small_chart):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("payload.txt", "not a chart")
    pdf = small_chart("c.pdf").read_bytes()
    behind, front = tmp_path / "behind.pdf", tmp_path / "front.pdf"
    behind.write_bytes(pdf + zipped.getvalue())
    front.write_bytes(zipped.getvalue()[:200] + b"\n" + pdf)
    assert _refused(check_polyglot, behind, "behind.pdf").code == "polyglot"
    assert _refused(check_polyglot, front, "front.pdf").code == "polyglot"


def test_javascript_hidden_behind_a_broken_page_is_found(tmp_path, small_chart):
    # main gave up at page 1's broken /Annots and called the file clean
    path = hidden_javascript(small_chart("two.pdf", pages=2), tmp_path / "00001.upload")
    assert b"/JavaScript" not in path.read_bytes()
    assert _refused(check_pdf_active_content, path, "scan.pdf").code == "active_content"


def test_damaged_structure_fails_closed_with_its_own_code(tmp_path, small_chart):
    path = damaged_object(small_chart("one.pdf"), tmp_path / "00002.upload")
    error = _refused(check_pdf_active_content, path, "scan.pdf")
    assert error.code == "unverifiable_pdf"
    assert "scan.pdf" in error.message and "00002.upload" not in error.message
    assert str(tmp_path) not in error.message


def test_unopenable_pdf_fails_closed(tmp_path):
    path = tmp_path / "x.upload"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00" * 64)
    assert _refused(check_pdf_active_content, path, "x.pdf").code == "unverifiable_pdf"


def test_clean_scan_passes(small_chart):
    check_pdf_active_content(small_chart("clean.pdf", pages=2), "clean.pdf")


def test_unreadable_file_is_not_taken_for_clean(tmp_path: Path):
    with pytest.raises(OSError):
        check_pdf_active_content(tmp_path / "gone.pdf", "gone.pdf")
