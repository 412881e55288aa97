"""The bad-input corpus of the intake tests, generated (nothing checked in).

``make_corpus(folder)`` writes good and bad files and returns a list of
:class:`Item` — the name the uploader gives, the path, and what intake must make
of it: the quarantine code, ``duplicate``, or ``queued`` for a good document.
"""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from chartvault.synthetic import ChartSpec, make_chart, render_page
from ingest.barcodes import CoverSheet
from ingest.coversheet import cover_sheet_image

DPI = 150
GOOD_MRNS = ("TST100001", "TST100002", "TST100003")


@dataclass(frozen=True)
class Item:
    name: str  # as uploaded (may hold a path, NUL, newline)
    path: Path
    expect: str  # a quarantine code, "duplicate", "queued" or "manifest"
    what: str  # one line for the corpus list in the report
    part: str | None = None  # for a split stack: the part's page range


def _chart(folder: Path, name: str, mrn: str, seed: int, fmt: str = "pdf") -> Path:
    spec = ChartSpec(mrn=mrn, patient_name="TESTPATIENT, Corpus", date_of_birth=date(1960, 1, 1),
                     doc_type="progress_notes", service_date=date(2024, 1, 1), pages=1,
                     seed=seed, paragraphs=1)
    return make_chart(spec, folder / name, fmt=fmt, dpi=DPI).path


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _bogus_ifd_tiff() -> bytes:
    # Little-endian TIFF whose first IFD lies far beyond the end of the file.
    return b"II*\x00" + struct.pack("<I", 0x7FFF_FFF0) + b"\x00" * 64


def _stack(folder: Path, name: str, parts: list[tuple[CoverSheet | None, int]]) -> Path:
    images = []
    for index, (cover, seed) in enumerate(parts):
        if cover is not None:
            images.append(cover_sheet_image(cover, DPI))
        spec = ChartSpec(mrn=cover.mrn if cover else "TST999999", patient_name="STACK, Test",
                         date_of_birth=date(1960, 1, 1), doc_type="consent",
                         service_date=date(2024, 1, 1), pages=1, seed=seed + index, paragraphs=1)
        images.append(render_page(spec, 1, DPI)[0])
    out = folder / name
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=float(DPI))
    return out


def hidden_javascript(source: Path, out: Path) -> Path:
    """``source`` (two pages or more) with a JavaScript link on page 2, packed into a
    compressed object stream (no raw token shows), and page 1's /Annots an integer: a
    structure walk that gives up at the first surprise never reaches page 2."""
    import pikepdf

    with pikepdf.open(source) as pdf:
        pdf.pages[0].obj.Annots = 42
        action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript,
                                                      JS=pikepdf.String("app.alert(1)")))
        annot = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 10, 10], A=action))
        pdf.pages[1].obj.Annots = pikepdf.Array([annot])
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                 compress_streams=True)
    return out


def damaged_object(source: Path, out: Path) -> Path:
    """``source`` with an incremental update adding one object that cannot be parsed (an
    unterminated string): the pages still render, the structure cannot be checked."""
    import re

    data = source.read_bytes()
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    size = int(re.findall(rb"/Size\s+(\d+)", data)[-1])
    root = re.findall(rb"/Root\s+(\d+ \d+ R)", data)[-1]
    body = f"\n{size} 0 obj\n<< /Type /Annot /Contents (unterminated\nendobj\n".encode()
    xref = (f"xref\n{size} 1\n{len(data) + 1:010d} 00000 n \ntrailer\n<< /Size {size + 1} "
            f"/Root ").encode() + root + (f" /Prev {prev} >>\nstartxref\n"
                                          f"{len(data) + len(body)}\n%%EOF\n").encode()
    out.write_bytes(data + body + xref)
    return out


def make_corpus(folder: Path) -> list[Item]:
    folder.mkdir(parents=True, exist_ok=True)
    good_pdf = _chart(folder, "good-1.pdf", GOOD_MRNS[0], seed=1)
    good_tif = _chart(folder, "good-2.tif", GOOD_MRNS[1], seed=2, fmt="tiff")
    other = _chart(folder, "other.pdf", GOOD_MRNS[2], seed=3)
    raw = good_pdf.read_bytes()
    items: list[Item] = [
        Item("good-1.pdf", good_pdf, "queued", "good scan, metadata from the manifest"),
        Item("good-2.tif", good_tif, "queued", "good TIFF scan, metadata from the manifest"),
    ]

    def add(name: str, data: bytes | Path, expect: str, what: str, upload_as: str | None = None
            ) -> None:
        path = folder / name
        if isinstance(data, Path):
            shutil.copyfile(data, path)
        else:
            path.write_bytes(data)
        items.append(Item(upload_as or name, path, expect, what))

    add("empty.pdf", b"", "empty_file", "zero bytes")
    add("truncated.pdf", raw[: len(raw) // 3], "corrupt_pdf", "PDF cut off at a third")
    writer = PdfWriter(clone_from=str(other))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    add("encrypted.pdf", buffer.getvalue(), "encrypted_pdf", "PDF with a user password")
    writer = PdfWriter(clone_from=str(other))
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"),
        NameObject("/JS"): TextStringObject("app.alert('hello');")})
    buffer = io.BytesIO()
    writer.write(buffer)
    add("javascript.pdf", buffer.getvalue(), "active_content", "PDF with JavaScript")
    two = _stack(folder, "two-pages.pdf", [(None, 40), (None, 41)])
    add("hidden-javascript.pdf", hidden_javascript(two, folder / "hidden.tmp"),
        "active_content", "JavaScript in a compressed object stream, behind a broken page 1")
    add("damaged-object.pdf", damaged_object(two, folder / "damaged.tmp"), "unverifiable_pdf",
        "PDF with an object that cannot be parsed (active content cannot be ruled out)")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("payload.txt", "not a chart")
    add("polyglot.pdf", other.read_bytes() + zipped.getvalue(), "polyglot",
        "PDF with a ZIP archive appended (PDF/ZIP polyglot)")
    add("zip-in-front.pdf", zipped.getvalue()[:200] + b"\n%PDF-1.4\n" + raw[9:], "polyglot",
        "ZIP header in front of a PDF header")
    add("bogus-ifd.tif", _bogus_ifd_tiff(), "truncated_image", "TIFF whose IFD offset is bogus")
    add("huge.png", _png_header_only(100_000, 100_000), "image_too_large",
        "PNG declaring 100000 x 100000 pixels")
    jpeg = io.BytesIO()
    Image.new("L", (300, 300), 255).save(jpeg, "JPEG")
    add("photo.pdf", jpeg.getvalue(), "type_mismatch", "JPEG content named .pdf")
    add("truncated.jpg", jpeg.getvalue()[:-200], "truncated_image", "JPEG cut short")
    png = io.BytesIO()
    Image.new("L", (300, 300), 255).save(png, "PNG")
    add("truncated.png", png.getvalue()[:-30], "truncated_image", "PNG cut short")
    add("passwd.pdf", other, "unsafe_filename", "uploaded as ../../etc/passwd.pdf",
        upload_as="../../etc/passwd.pdf")
    add("nul.pdf", other, "unsafe_filename", "name with a NUL byte", upload_as="bad\x00name.pdf")
    add("newline.pdf", other, "unsafe_filename", "name with a newline",
        upload_as="two\nlines.pdf")
    add("zero-pages.pdf", _zero_pages(), "zero_pages", "PDF with an empty page tree")
    add("notes.txt", b"just some text, not a scan\n", "unsupported_type", "plain text file")
    add("page.pdf", b"<html><body>not a pdf</body></html>", "unsupported_type",
        "HTML named .pdf")
    add("archive.pdf", zipped.getvalue(), "unsupported_type", "ZIP archive named .pdf")
    add("good-1-copy.pdf", good_pdf, "duplicate", "the same bytes as good-1.pdf in the batch")
    add("no-metadata.pdf", _chart(folder, "x.pdf", GOOD_MRNS[2], seed=4), "missing_mrn",
        "good scan in no manifest row, no cover sheet, no --mrn")
    add("bad-mrn-row.pdf", _chart(folder, "y.pdf", GOOD_MRNS[2], seed=5), "manifest_bad_row",
        "manifest row with a bad service date")
    add("wrong-mrn.pdf", _chart(folder, "z.pdf", GOOD_MRNS[2], seed=6), "bad_mrn",
        "manifest row with a malformed MRN")
    add("bad-manifest.csv", b"filename,document_type\ngood-1.pdf,consent\n",
        "manifest_missing_column", "manifest without the mrn column")
    add("latin1.csv", "filename,mrn,document_type\nRéné.pdf,TST000001,consent\n"
        .encode("latin-1"), "manifest_not_utf8", "manifest in Latin-1, not UTF-8")
    add("manifest.csv", (
        "filename,mrn,document_type,service_date,facility\n"
        f"good-1.pdf,{GOOD_MRNS[0]},progress_notes,2024-01-01,Test General\n"
        f"good-2.tif,{GOOD_MRNS[1]},lab_results,2024-01-02,Test General\n"
        f"bad-mrn-row.pdf,{GOOD_MRNS[2]},consent,last tuesday,Test General\n"
        "wrong-mrn.pdf,12-34,consent,2024-01-03,Test General\n"
        f"not-uploaded.pdf,{GOOD_MRNS[2]},consent,2024-01-04,Test General\n").encode(),
        "manifest", "the batch's good manifest")
    items.append(Item("not-uploaded.pdf", folder / "manifest.csv", "manifest_file_missing",
                      "manifest row naming a file not in the batch"))
    good = CoverSheet(mrn=GOOD_MRNS[2], doc_type="consent", patient_name="STACK, Test")
    stack = _stack(folder, "stack.pdf", [
        (None, 10),
        (good, 20),
        (CoverSheet(mrn="NOT AN MRN!", doc_type="consent"), 30),
        (CoverSheet(mrn=GOOD_MRNS[2], doc_type="horoscope"), 40)])
    items += [Item("stack.pdf", stack, "missing_mrn", "stack pages before any cover sheet", "1"),
              Item("stack.pdf", stack, "queued", "stack part after a good cover sheet", "3"),
              Item("stack.pdf", stack, "bad_mrn", "cover sheet with an invalid MRN", "5"),
              Item("stack.pdf", stack, "unknown_doc_type", "cover sheet with an unknown type",
                   "7")]
    return items


def _zero_pages() -> bytes:
    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    return buffer.getvalue()


def uploads(items: list[Item]) -> list[tuple[Path, str]]:
    """(path, name) of each file to upload once (the stack and manifest only once)."""
    seen, out = set(), []
    for item in items:
        if item.expect == "manifest_file_missing" or (item.path, item.name) in seen:
            continue
        seen.add((item.path, item.name))
        out.append((item.path, item.name))
    return out
