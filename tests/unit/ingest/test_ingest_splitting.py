"""The separator scan reads a scanned PDF page's own image and renders the rest."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from ingest import splitting
from ingest.barcodes import CoverSheet, find_separator
from ingest.coversheet import write_cover_sheet
from tests.support.ingest_stacks import cover_sheet_image


def _scan_pdf(image: Image.Image, out: Path, dpi: int) -> Path:
    image.save(out, "PDF", resolution=float(dpi))
    return out


def test_scans_are_taken_out_and_vector_pages_rendered(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cover = CoverSheet(mrn="TST000321", doc_type="progress_notes")
    scan = _scan_pdf(cover_sheet_image(cover, 300), tmp_path / "scan.pdf", 300)
    printed = write_cover_sheet(cover, tmp_path / "printed.pdf")  # vector, as printed
    mixed = tmp_path / "mixed.pdf"
    subprocess.run(["pdfunite", str(scan), str(printed), str(scan), str(mixed)], check=True)
    rendered: list[list[int]] = []
    real = splitting._render

    def spy(path, numbers, dpi, longest):  # noqa: ANN001, ANN202
        rendered.append(list(numbers))
        return real(path, numbers, dpi, longest)

    monkeypatch.setattr(splitting, "_render", spy)
    pages = list(splitting.page_images(mixed, "pdf", 3, 200))
    assert rendered == [[2]]  # only the vector page went to poppler
    assert [n for n, _ in pages] == [1, 2, 3]
    for number, image in pages:
        assert image is not None and image.mode == "L" and max(image.size) <= 2200
        found = find_separator(image, ("PATCHT",))
        assert found is not None and found.cover.mrn == cover.mrn, number
    assert pages[0][1].size == (1700, 2200)  # the 300-dpi scan scaled to 200 dpi


def test_a_scan_below_the_separator_resolution_is_not_enlarged(tmp_path: Path) -> None:
    cover = CoverSheet(mrn="TST000654", date_of_birth=date(1970, 1, 2))
    scan = _scan_pdf(cover_sheet_image(cover, 150), tmp_path / "scan.pdf", 150)
    ((number, image),) = list(splitting.page_images(scan, "pdf", 1, 200))
    assert image.size == (1275, 1650)  # find_separator upscales small pages itself
    assert find_separator(image, ()).cover.mrn == cover.mrn


def test_patch_t_in_the_fax_sample_is_found_on_its_own_ccitt_image() -> None:
    fax = Path(__file__).resolve().parents[3] / "../shared/samples/paperless-barcode-fax-image.pdf"
    if not fax.resolve().is_file():
        pytest.skip(f"real scans not found at {fax.resolve().parent} (the shared samples folder)")
    pages = list(splitting.page_images(fax.resolve(), "pdf", 3, 200))
    found = [find_separator(image, ("PATCHT",)) for _, image in pages]
    assert [f is not None for f in found] == [False, True, False]
    assert found[1].cover is None and found[1].value == "PATCHT"
