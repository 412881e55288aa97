"""The separator scan reads a scanned PDF page's own image and renders the rest."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from chartvault.settings import Settings
from ingest import splitting
from ingest.barcodes import CoverSheet, find_separator
from ingest.coversheet import write_cover_sheet
from tests.support.ingest_stacks import (
    cover_sheet_image,
    data_matrix_image,
    three_patients,
    write_stack,
)


def _scan_pdf(image: Image.Image, out: Path, dpi: int) -> Path:
    image.save(out, "PDF", resolution=float(dpi))
    return out


@pytest.mark.parametrize(("dpi", "size"), [(150, (1275, 1650)), (200, (1700, 2200))])
def test_scans_are_taken_out_and_vector_pages_rendered(tmp_path: Path, monkeypatch, dpi: int,  # noqa: ANN001
                                                       size: tuple[int, int]) -> None:
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
    pages = list(splitting.page_images(mixed, "pdf", 3, dpi))
    assert rendered == [[2]]  # only the vector page went to poppler
    assert [n for n, _ in pages] == [1, 2, 3]
    for number, image in pages:
        assert image is not None and image.mode == "L" and max(image.size) <= 11 * dpi
        found = find_separator(image, ("PATCHT",))
        assert found is not None and found.cover.mrn == cover.mrn, number
    assert pages[0][1].size == size  # the 300-dpi scan scaled to the separator resolution
    assert pages[1][1].size == size  # the printed sheet rendered at it


def test_a_scan_below_the_separator_resolution_is_not_enlarged(tmp_path: Path) -> None:
    cover = CoverSheet(mrn="TST000654", date_of_birth=date(1970, 1, 2))
    scan = _scan_pdf(cover_sheet_image(cover, 150), tmp_path / "scan.pdf", 150)
    ((number, image),) = list(splitting.page_images(scan, "pdf", 1, 200))
    assert image.size == (1275, 1650)  # find_separator upscales small pages itself
    assert find_separator(image, ()).cover.mrn == cover.mrn


def _sample(name: str) -> Path:
    path = (Path(__file__).resolve().parents[3] / "../shared/samples" / name).resolve()
    if not path.is_file():
        pytest.skip(f"real scans not found at {path.parent} (the shared samples folder)")
    return path


@pytest.mark.parametrize("dpi", [150, 200])
def test_patch_t_in_the_fax_sample_is_found_on_its_own_ccitt_image(dpi: int) -> None:
    pages = list(splitting.page_images(_sample("paperless-barcode-fax-image.pdf"), "pdf", 3,
                                       dpi))
    assert all(max(image.size) <= 11 * dpi for _, image in pages)  # 300-dpi G4, scaled
    found = [find_separator(image, ("PATCHT",)) for _, image in pages]
    assert [f is not None for f in found] == [False, True, False]
    assert found[1].cover is None and found[1].value == "PATCHT"


def test_the_default_resolution_reads_the_tiny_qr_sample_in_one_search(tmp_path: Path,
                                                                      monkeypatch) -> None:  # noqa: ANN001
    import zxingcpp

    dpi = Settings(home=tmp_path).separator_dpi
    assert dpi == 150  # half the cost of 200 (the pixels and the search)
    ((_, page),) = splitting.page_images(
        _sample("paperless-barcode-qr-asn-000123-upscale-dpi.pdf"), "pdf", 1, dpi)
    searches = []
    real = zxingcpp.read_barcodes
    monkeypatch.setattr(zxingcpp, "read_barcodes",
                        lambda image, **kw: searches.append(image.size) or real(image, **kw))
    assert find_separator(page, ("ASN000123",)) is not None
    assert searches == [page.size]  # read as it is: no upscaled second search


def test_a_300_dpi_tiff_stack_is_searched_at_150_dpi(tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "stack.tif"
    write_stack([("cover", covers[0], 1), ("patch", None, 1)], stack, dpi=300, fmt="tiff")
    pages = list(splitting.page_images(stack, "tiff", 4, 150))
    assert [image.size for _, image in pages] == [(1275, 1650)] * 4
    found = [find_separator(image, ("PATCHT",)) for _, image in pages]
    assert found[0].cover.mrn == covers[0].mrn
    assert [f is not None for f in found] == [True, False, True, False]


def test_searches_run_on_threads_and_the_stack_splits_as_in_one(tmp_path: Path,
                                                               monkeypatch) -> None:  # noqa: ANN001
    covers = three_patients()
    stack = tmp_path / "stack.pdf"
    write_stack([("cover", covers[0], 2), ("duplex", covers[1], 2), ("patch", None, 1),
                 ("cover", covers[2], 3)], stack, dpi=150)
    settings = Settings(home=tmp_path / "home")
    threads: set[str] = set()
    real = splitting.find_separator

    def spy(image, values, symbologies):  # noqa: ANN001, ANN202
        threads.add(threading.current_thread().name)
        time.sleep(0.02)  # long enough that one thread cannot take every page
        return real(image, values, symbologies)

    monkeypatch.setattr(splitting, "find_separator", spy)
    seen: list[int] = []
    monkeypatch.setattr(splitting, "_threads", lambda: 1)
    one = splitting.find_segments(stack, "pdf", 13, settings)
    assert len(threads) == 1
    threads.clear()
    monkeypatch.setattr(splitting, "_threads", lambda: 2)
    two = splitting.find_segments(stack, "pdf", 13, settings, on_page=seen.append)
    assert len(threads) == 2 and all(t.startswith("separator-scan") for t in threads)
    assert seen == list(range(1, 14))  # in page order
    assert two == one
    assert [(s.separator_page, s.pages, s.skipped, s.cover and s.cover.mrn) for s in two] == [
        (1, [2, 3], [], covers[0].mrn), (4, [6, 7], [5], covers[1].mrn),
        (8, [9], [], covers[1].mrn), (10, [11, 12, 13], [], covers[2].mrn)]


def test_a_stack_splits_at_data_matrix_sheets_once_they_are_configured(tmp_path: Path) -> None:
    blank = Image.new("L", (1275, 1650), 255)
    chart = blank.copy()
    chart.paste(0, (150, 150, 1100, 400))  # not blank: a chart page, whatever it says
    stack = tmp_path / "stack.pdf"
    pages = [chart, data_matrix_image("PATCHT"), chart, chart]
    pages[0].save(stack, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    default = Settings(home=tmp_path / "home")
    # not searched for: the sheet is taken as a chart page
    assert [s.pages for s in splitting.find_segments(stack, "pdf", 4, default)] == [[1, 2, 3, 4]]
    with_it = Settings(home=tmp_path / "home",
                       separator_symbologies=("qr", "code128", "code39", "datamatrix"))
    assert [(s.separator_page, s.pages)
            for s in splitting.find_segments(stack, "pdf", 4, with_it)] == [(None, [1]),
                                                                              (2, [3, 4])]
