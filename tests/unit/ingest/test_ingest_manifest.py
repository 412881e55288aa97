"""Manifest parsing: columns, rows, page ranges, encodings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from chartvault.errors import BadInput
from ingest.manifest import format_pages, parse_pages, read_manifest


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "manifest.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_rows_with_optional_columns_and_aliases(tmp_path: Path) -> None:
    text = ("\ufeffFile Name,MRN,Type,Service Date,Facility,Pages,DOB\n"
            "a.pdf,TST000001,consent,2024-01-02,North,1-3;5,1970-01-02\n"
            "\n"
            "b.pdf,TST000002,lab_results,,,,\n")
    rows = read_manifest(write(tmp_path, text))
    assert [r.filename for r in rows] == ["a.pdf", "b.pdf"]
    assert rows[0].pages == (1, 2, 3, 5) and rows[0].service_date == date(2024, 1, 2)
    assert rows[0].date_of_birth == date(1970, 1, 2) and rows[0].facility == "North"
    assert rows[1].pages == () and rows[1].error is None


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        read_manifest(write(tmp_path, "filename,document_type\na.pdf,consent\n"))
    assert caught.value.code == "manifest_missing_column"
    assert "mrn" in caught.value.message


def test_non_utf8_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        read_manifest(write(tmp_path, "filename,mrn,document_type\nRéné.pdf,TST000001,consent\n",
                            encoding="latin-1"))
    assert caught.value.code == "manifest_not_utf8"
    assert "UTF-8" in caught.value.message


@pytest.mark.parametrize("text", ["", "filename,mrn,document_type\n"])
def test_empty_manifest(tmp_path: Path, text: str) -> None:
    with pytest.raises(BadInput) as caught:
        read_manifest(write(tmp_path, text))
    assert caught.value.code == "manifest_empty"


def test_bad_values_stay_on_their_row(tmp_path: Path) -> None:
    rows = read_manifest(write(tmp_path, "filename,mrn,document_type,service_date,pages\n"
                                         "a.pdf,TST000001,consent,yesterday,3-1\n"))
    assert "service_date" in rows[0].error and "3-1" in rows[0].error


def test_page_ranges() -> None:
    assert parse_pages("1-3,7") == (1, 2, 3, 7)
    assert parse_pages(" ") == ()
    assert format_pages([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
    for bad in ("0-2", "a-b", "1-3,2"):
        with pytest.raises(ValueError):
            parse_pages(bad)
