"""A printable cover sheet: the patient and document type in words, and a QR code.

The QR code is 2.5 inches square with error correction level M: at a 200-dpi
scan a module of a version-6 code is over 10 pixels wide.
"""

from __future__ import annotations

import io
from pathlib import Path

from ingest.barcodes import CoverSheet, encode_cover

QR_INCHES = 2.5


def qr_png(payload: str) -> bytes:
    """The payload as a QR code (never a Micro QR: ``segno.make_qr``), as PNG bytes."""
    import segno

    code = segno.make_qr(payload, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def write_cover_sheet(sheet: CoverSheet, out: Path, type_label: str = "") -> Path:
    """Write a one-page US-letter PDF cover sheet to ``out`` (atomically)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.units import inch
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    width, height = letter
    pdf = canvas.Canvas(str(tmp), pagesize=letter, invariant=1)
    pdf.setTitle("Chartvault cover sheet")
    pdf.setFont("Helvetica-Bold", 26)
    pdf.drawCentredString(width / 2, height - 1.1 * inch, "CHARTVAULT COVER SHEET")
    pdf.setFont("Helvetica", 12)
    pdf.drawCentredString(width / 2, height - 1.45 * inch,
                          "Place in front of the pages it describes. This page is not archived.")
    lines = [("MRN", sheet.mrn), ("Patient", sheet.patient_name),
             ("Date of birth", sheet.date_of_birth.isoformat() if sheet.date_of_birth else ""),
             ("Document type", type_label or sheet.doc_type),
             ("Service date", sheet.service_date.isoformat() if sheet.service_date else ""),
             ("Facility", sheet.facility)]
    y = height - 2.4 * inch
    for label, value in lines:
        if not value:
            continue
        pdf.setFont("Helvetica", 16)
        pdf.drawRightString(2.9 * inch, y, f"{label}:")
        pdf.setFont("Helvetica-Bold", 20)
        pdf.drawString(3.1 * inch, y, value[:40])
        y -= 0.45 * inch
    size = QR_INCHES * inch
    image = ImageReader(io.BytesIO(qr_png(encode_cover(sheet))))
    pdf.drawImage(image, (width - size) / 2, 1.3 * inch, size, size)
    pdf.setFont("Helvetica", 10)
    pdf.drawCentredString(width / 2, 1.0 * inch,
                          "Scan at 200 dpi or more. Do not fold or mark the code.")
    pdf.showPage()
    pdf.save()
    tmp.replace(out)
    return out


def cover_sheet_image(sheet: CoverSheet, dpi: int = 200):  # noqa: ANN201
    """The cover sheet as a grayscale page image, as a scanner would see it."""
    import tempfile

    from pdf2image import convert_from_path

    with tempfile.TemporaryDirectory(prefix="chartvault-cover-") as tmp:
        pdf = write_cover_sheet(sheet, Path(tmp) / "cover.pdf")
        return convert_from_path(pdf, dpi=dpi, grayscale=True)[0]
