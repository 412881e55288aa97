"""Separator sheets: the cover-sheet payload and reading barcodes off a page.

A cover sheet carries a QR code (or Code 128) with the payload
``CHARTVAULT:1;MRN=TST000123;TYPE=discharge_summary;NAME=...;DOB=1970-01-02``
(values percent-encoded, so ``;`` and ``=`` in a name are safe). A plain
separator sheet carries one of the configured values (``PATCHT``, patch code T,
by default) and only starts a new document. Any other barcode on a page (a
wristband label, a lab sticker) is ignored: chart pages may carry barcodes.
Symbologies searched (``CHARTVAULT_SEPARATOR_SYMBOLOGIES``): QR (and Micro QR),
Code 128 and Code 39 (patch-T sheets printed as Code 39 "PATCHT") by default;
Data Matrix when configured (it alone took a third of each page's search).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, unquote

from PIL import Image

from chartvault.errors import BadInput
from chartvault.settings import DEFAULT_SEPARATOR_SYMBOLOGIES

PREFIX = "CHARTVAULT:1;"
_FIELDS = {"MRN": "mrn", "TYPE": "doc_type", "NAME": "patient_name", "DOB": "date_of_birth",
           "DATE": "service_date", "FACILITY": "facility"}
# Below this many pixels on the short side a page is upscaled before decoding (a
# second search, several times the cost of the first): a page under ~140 dpi. A letter
# or A4 page at the separator scan's 150 dpi (1275 or 1240 px) is searched as it is:
# cover sheets read down to 50 dpi, PATCH T to 75, the shared samples' tiny QR code
# (paperless-ngx's "upscale" test) to 100-120 dpi without it (zxing-cpp 3.x).
_SMALL_SIDE = 1200


@dataclass(frozen=True)
class CoverSheet:
    mrn: str
    doc_type: str = ""
    patient_name: str = ""
    date_of_birth: date | None = None
    service_date: date | None = None
    facility: str = ""


@dataclass(frozen=True)
class Separator:
    """What a separator page says: ``cover`` is None for a plain separator sheet."""

    value: str
    cover: CoverSheet | None = None


def encode_cover(sheet: CoverSheet) -> str:
    parts = [("MRN", sheet.mrn), ("TYPE", sheet.doc_type), ("NAME", sheet.patient_name),
             ("DOB", sheet.date_of_birth.isoformat() if sheet.date_of_birth else ""),
             ("DATE", sheet.service_date.isoformat() if sheet.service_date else ""),
             ("FACILITY", sheet.facility)]
    return PREFIX + ";".join(f"{k}={quote(v, safe=' ,.-_/')}" for k, v in parts if v)


def decode_cover(text: str) -> CoverSheet:
    """The cover sheet in ``text``; BadInput bad_cover_sheet when it is malformed."""
    if not text.startswith(PREFIX):
        raise BadInput("not a Chartvault cover sheet", code="bad_cover_sheet")
    values: dict[str, object] = {}
    for part in text[len(PREFIX):].split(";"):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        field = _FIELDS.get(key.strip().upper())
        if not sep or field is None:
            continue  # a later version may add fields; unknown ones are ignored
        value = unquote(raw).strip()
        if field in ("date_of_birth", "service_date") and value:
            try:
                values[field] = date.fromisoformat(value)
            except ValueError as exc:
                raise BadInput(f"cover sheet {key} {value!r} is not a date (YYYY-MM-DD)",
                               code="bad_cover_sheet") from exc
        else:
            values[field] = value
    if not values.get("mrn"):
        raise BadInput("the cover sheet's barcode carries no MRN", code="bad_cover_sheet")
    return CoverSheet(**values)  # type: ignore[arg-type]


# zxing-cpp's formats for each name in chartvault.settings.SEPARATOR_SYMBOLOGIES
_FORMATS = {"qr": ("QRCode", "MicroQRCode"), "code128": ("Code128",), "code39": ("Code39",),
            "datamatrix": ("DataMatrix",)}


def find_separator(image: Image.Image, plain_values: tuple[str, ...],
                   symbologies: tuple[str, ...] = DEFAULT_SEPARATOR_SYMBOLOGIES
                   ) -> Separator | None:
    """The separator on this page image, or None. Upscales small pages once.
    ``symbologies``: names from ``chartvault.settings.SEPARATOR_SYMBOLOGIES``.

    Raises BadInput bad_cover_sheet when the page carries a malformed cover sheet.
    """
    import zxingcpp

    wanted = {v.upper() for v in plain_values}
    gray = image if image.mode == "L" else image.convert("L")
    attempts = [gray]
    if min(gray.size) < _SMALL_SIDE:
        factor = 2 if min(gray.size) * 2 >= _SMALL_SIDE else 3
        attempts.append(gray.resize((gray.width * factor, gray.height * factor),
                                    Image.Resampling.BICUBIC))
    # Only the symbologies separator sheets use: about twice as fast as trying all. No
    # downscaled passes (25 -> 18 ms a letter page at the scan's 150 dpi): the cover
    # sheet, the PATCH T sample and the tiny QR sample read the same without them at
    # every resolution from 50 (75, 100) to 600 dpi.
    formats = [getattr(zxingcpp.BarcodeFormat, name)
               for symbology in symbologies for name in _FORMATS[symbology]]
    for candidate in attempts:
        found = _pick(zxingcpp.read_barcodes(candidate, formats=formats, try_downscale=False),
                      wanted)
        if found is not None:
            return found
    return None


def _pick(results, wanted: set[str]) -> Separator | None:  # noqa: ANN001
    for result in results:
        text = (result.text or "").strip()
        if text.startswith(PREFIX):
            return Separator(value=text, cover=decode_cover(text))
    for result in results:
        text = (result.text or "").strip()
        if text.upper().replace(" ", "") in wanted:
            return Separator(value=text)
    return None
