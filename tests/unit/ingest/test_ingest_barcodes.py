"""Cover-sheet payloads, the printable cover sheet, and reading separators off pages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pdf2image import convert_from_path

from chartvault.errors import BadInput
from ingest.barcodes import PREFIX, CoverSheet, decode_cover, encode_cover, find_separator
from ingest.coversheet import write_cover_sheet
from tests.support.ingest_stacks import data_matrix_image

SAMPLES = (Path(__file__).resolve().parents[4] / "shared" / "samples").resolve()


def sample(name: str) -> Path:
    """A real public scan from the shared samples folder; skip clearly when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real scans not found at {SAMPLES} (the shared samples folder)")
    return SAMPLES / name

SHEET = CoverSheet(mrn="TST000123", doc_type="discharge_summary",
                   patient_name="TESTPATIENT, Alice Q.; x=y", date_of_birth=date(1970, 1, 2),
                   service_date=date(2024, 5, 6), facility="Test General")


def test_payload_round_trips_with_separators_in_values() -> None:
    text = encode_cover(SHEET)
    assert text.startswith(PREFIX)
    assert decode_cover(text) == SHEET


def test_payload_ignores_unknown_fields_and_rejects_missing_mrn() -> None:
    assert decode_cover(PREFIX + "MRN=TST1234567;COLOUR=blue").mrn == "TST1234567"
    with pytest.raises(BadInput) as caught:
        decode_cover(PREFIX + "TYPE=consent")
    assert caught.value.code == "bad_cover_sheet"
    with pytest.raises(BadInput):
        decode_cover(PREFIX + "MRN=TST1234567;DOB=1970-13-45")


@pytest.mark.parametrize("dpi", [50, 100, 150, 200, 300, 600])
def test_printed_cover_sheet_reads_back_at_scan_resolutions(tmp_path: Path, dpi: int) -> None:
    pdf = write_cover_sheet(SHEET, tmp_path / "cover.pdf")
    page = convert_from_path(pdf, dpi=dpi, grayscale=True)[0]
    found = find_separator(page, ("PATCHT",))
    assert found is not None and found.cover == SHEET


@pytest.mark.parametrize("dpi", [75, 150, 300, 600])
def test_patch_t_sheet_in_the_fax_sample_is_a_plain_separator(dpi: int) -> None:
    pages = convert_from_path(sample("paperless-barcode-fax-image.pdf"), dpi=dpi,
                              grayscale=True)
    found = [find_separator(page, ("PATCHT",)) for page in pages]
    assert [f is not None for f in found] == [False, True, False]
    assert found[1].cover is None and found[1].value == "PATCHT"


@pytest.mark.parametrize("dpi", [100, 150, 300, 600])
def test_small_qr_sample_is_found_when_its_value_is_configured(dpi: int) -> None:
    page = convert_from_path(sample("paperless-barcode-qr-asn-000123-upscale-dpi.pdf"),
                             dpi=dpi, grayscale=True)[0]
    assert find_separator(page, ("PATCHT",)) is None  # other barcodes are chart content
    assert find_separator(page, ("ASN000123",)) is not None


def test_cover_sheet_fed_upside_down_and_crooked(tmp_path: Path) -> None:
    from PIL import Image

    pdf = write_cover_sheet(SHEET, tmp_path / "cover.pdf")
    page = convert_from_path(pdf, dpi=200, grayscale=True)[0]
    crooked = page.rotate(183, resample=Image.Resampling.BICUBIC, fillcolor=255)
    found = find_separator(crooked, ())
    assert found is not None and found.cover == SHEET


@pytest.mark.parametrize(("size", "searched"), [
    ((1275, 1650), [(1275, 1650)]),  # letter at the separator scan's 150 dpi: as it is
    ((1240, 1754), [(1240, 1754)]),  # A4 at 150 dpi
    ((850, 1100), [(850, 1100), (1700, 2200)]),  # letter at 100 dpi: upscaled once more
])
def test_only_a_page_below_the_separator_resolution_is_searched_again_upscaled(
        monkeypatch, size: tuple[int, int], searched: list[tuple[int, int]]) -> None:  # noqa: ANN001
    import zxingcpp
    from PIL import Image

    seen = []
    real = zxingcpp.read_barcodes
    monkeypatch.setattr(zxingcpp, "read_barcodes",
                        lambda image, **kw: seen.append(image.size) or real(image, **kw))
    assert find_separator(Image.new("L", size, 255), ("PATCHT",)) is None
    assert seen == searched



def test_data_matrix_sheets_are_read_only_when_configured() -> None:
    page = data_matrix_image("PATCHT")
    assert find_separator(page, ("PATCHT",)) is None  # the default: QR, Code 128, Code 39
    found = find_separator(page, ("PATCHT",), ("qr", "code39", "datamatrix"))
    assert found is not None and found.value == "PATCHT" and found.cover is None
    cover = data_matrix_image(encode_cover(SHEET))
    assert find_separator(cover, (), ("datamatrix",)).cover == SHEET


def test_only_the_configured_symbologies_are_searched(monkeypatch) -> None:  # noqa: ANN001
    import zxingcpp
    from PIL import Image

    asked = []
    real = zxingcpp.read_barcodes
    monkeypatch.setattr(zxingcpp, "read_barcodes",
                        lambda image, **kw: asked.append(kw["formats"]) or real(image, **kw))
    find_separator(Image.new("L", (1275, 1650), 255), ("PATCHT",))
    find_separator(Image.new("L", (1275, 1650), 255), ("PATCHT",), ("code39",))
    fmt = zxingcpp.BarcodeFormat
    assert asked == [[fmt.QRCode, fmt.MicroQRCode, fmt.Code128, fmt.Code39], [fmt.Code39]]


def test_every_symbology_the_settings_accept_can_be_searched() -> None:
    from chartvault.settings import SEPARATOR_SYMBOLOGIES
    from ingest.barcodes import _FORMATS

    assert set(_FORMATS) == set(SEPARATOR_SYMBOLOGIES)
