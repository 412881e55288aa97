"""Synthetic chart pages with known text, for tests, the demo and the benchmarks.

Every patient, MRN and facility here is obviously fake ("TESTPATIENT, Alice Q.",
"TST004211", "Chartvault Test General Hospital"). Pages are drawn at a given
resolution on US letter paper with DejaVu fonts (Debian package
``fonts-dejavu-core``) and written like a scanner would: images in a PDF (no
text layer), a multi-page TIFF, or a single PNG/JPEG. ``fmt="pdf-text"``
writes a born-digital PDF (real text layer) of the same pages instead.

Output is deterministic for a given spec (seed included). For a demo batch:
``python -m chartvault.synthetic FOLDER --charts 10 --pages 2``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FACILITY = "Chartvault Test General Hospital"
PAGE_INCHES = (8.5, 11.0)
MARGIN_INCHES = 0.9
BODY_PT, HEADER_PT, TITLE_PT = 12, 12, 16
FORMATS = ("pdf", "pdf-text", "tiff", "tiff-g4", "png", "jpeg")

FAKE_SURNAMES = ("TESTPATIENT", "SAMPLEPERSON", "DEMOCASE", "FAKERECORD", "MOCKPATIENT",
                 "PLACEHOLDER", "SYNTHETIC", "EXAMPLECHART")
FAKE_GIVEN = ("Alice", "Bruno", "Carmen", "Dmitri", "Edith", "Farid", "Grace", "Hiroshi",
              "Imani", "Jonas", "Keiko", "Lars", "Maya", "Nikhil", "Olga", "Pedro")
DOC_TYPES = ("Progress Note", "Discharge Summary", "Operative Report", "Consultation",
             "History and Physical", "Radiology Report", "Laboratory Results")
CODES = (("I10", "essential hypertension"), ("E11.9", "type 2 diabetes mellitus"),
         ("M17.12", "primary osteoarthritis of the left knee"), ("J45.909", "asthma"),
         ("E78.5", "hyperlipidemia"), ("N18.3", "chronic kidney disease, stage 3"),
         ("I48.91", "atrial fibrillation"), ("K21.9", "gastro-esophageal reflux disease"))
DRUGS = ("metformin 500 mg twice daily", "lisinopril 10 mg daily",
         "atorvastatin 20 mg at bedtime", "amlodipine 5 mg daily",
         "albuterol inhaler as needed", "omeprazole 20 mg daily",
         "apixaban 5 mg twice daily", "acetaminophen 650 mg as needed")
SENTENCES = (
    "Patient seen today for follow-up of {cond} ({code}).",
    "History of {cond} ({code}), stable on current therapy.",
    "Reports pain in the left knee after walking more than two blocks.",
    "Blood pressure 138/86, pulse 72, temperature 36.8 C.",
    "Continue {drug}.",
    "Start {drug} and review in four weeks.",
    "No chest pain, shortness of breath or fever reported.",
    "Examination of the left knee shows mild effusion without redness.",
    "Plan: diet counselling, daily walking, and repeat HbA1c in three months.",
    "Discussed hypertension management and home blood pressure readings.",
    "Labs reviewed: creatinine 1.1 mg/dL, potassium 4.2 mmol/L.",
    "Allergies: penicillin (rash). Tolerating metformin without nausea.",
)


@dataclass(frozen=True)
class FakePatient:
    name: str
    mrn: str
    date_of_birth: date


@dataclass(frozen=True)
class ChartSpec:
    mrn: str
    patient_name: str
    date_of_birth: date
    doc_type: str
    service_date: date
    facility: str = FACILITY
    pages: int = 1
    seed: int = 0
    noise: bool = False
    skew: float = 0.0  # degrees counter-clockwise, as a crooked scan
    rotate: int = 0  # 0, 90, 180 or 270 degrees clockwise, as a page fed the wrong way
    paragraphs: int = 4  # body paragraphs per page; 1 makes a short, fast page


@dataclass(frozen=True)
class SyntheticChart:
    path: Path
    spec: ChartSpec
    page_texts: tuple[str, ...]  # ground truth per page, lines joined with "\n"


def fake_patients(n: int, seed: int) -> list[FakePatient]:
    """``n`` distinct fake patients, the same for the same seed."""
    rng = random.Random(seed)
    patients, mrns = [], set()
    while len(patients) < n:
        mrn = f"TST{rng.randrange(1_000_000):06d}"
        if mrn in mrns:
            continue
        mrns.add(mrn)
        name = (f"{rng.choice(FAKE_SURNAMES)}, {rng.choice(FAKE_GIVEN)} "
                f"{chr(ord('A') + rng.randrange(26))}.")
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 85))
        patients.append(FakePatient(name=name, mrn=mrn, date_of_birth=born))
    return patients


def spec_for(patient: FakePatient, seed: int, **options: object) -> ChartSpec:
    """A spec for ``patient`` with a document type and service date drawn from ``seed``."""
    rng = random.Random(seed)
    served = date(2015, 1, 1) + timedelta(days=rng.randrange(365 * 10))
    return ChartSpec(mrn=patient.mrn, patient_name=patient.name,
                     date_of_birth=patient.date_of_birth, doc_type=rng.choice(DOC_TYPES),
                     service_date=served, seed=seed, **options)  # type: ignore[arg-type]


def page_lines(spec: ChartSpec, number: int, width_px: int, dpi: int) -> list[tuple[str, str]]:
    """(style, text) for each line of page ``number``; style is title, header or body."""
    lines = [("title", spec.facility), ("header", f"{spec.doc_type}    Page {number} of "
                                                  f"{spec.pages}"),
             ("header", f"Patient: {spec.patient_name}    MRN: {spec.mrn}"),
             ("header", f"DOB: {spec.date_of_birth.isoformat()}    "
                        f"Encounter: {spec.service_date.isoformat()}"), ("gap", "")]
    rng = random.Random(f"{spec.seed}/{spec.mrn}/{number}")
    font = _font(False, BODY_PT, dpi)
    for _ in range(spec.paragraphs):
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        lines += [("body", line) for line in _wrap(paragraph, font, width_px)]
        lines.append(("gap", ""))
    return lines


def _sentence(rng: random.Random) -> str:
    code, cond = rng.choice(CODES)
    return rng.choice(SENTENCES).format(code=code, cond=cond, drug=rng.choice(DRUGS))


def _wrap(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width_px:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current] if current else lines


@lru_cache(maxsize=32)
def _font(bold: bool, points: int, dpi: int) -> ImageFont.FreeTypeFont:
    path = FONT_BOLD if bold else FONT_REGULAR
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the Debian package fonts-dejavu-core")
    return ImageFont.truetype(str(path), size=round(points * dpi / 72))


_STYLES = {"title": (True, TITLE_PT), "header": (True, HEADER_PT), "body": (False, BODY_PT)}


def truth(lines: Sequence[tuple[str, str]]) -> str:
    return "\n".join(text for style, text in lines if style != "gap")


def render_page(spec: ChartSpec, number: int, dpi: int) -> tuple[Image.Image, str]:
    """The page as a grayscale image, as scanned (noise, skew, rotation applied), and its text."""
    width, height = (round(side * dpi) for side in PAGE_INCHES)
    margin = round(MARGIN_INCHES * dpi)
    lines = page_lines(spec, number, width - 2 * margin, dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = margin
    for style, text in lines:
        if style == "gap":
            y += round(BODY_PT * dpi / 72 * 0.8)
            continue
        font = _font(*_STYLES[style], dpi)
        draw.text((margin, y), text, font=font, fill=0)
        y += round(font.size * 1.45)
        if y > height - margin:
            raise ValueError(f"page {number} overflows; lower ChartSpec.paragraphs")
    return _as_scanned(image, spec, number), truth(lines)


def _as_scanned(image: Image.Image, spec: ChartSpec, number: int) -> Image.Image:
    if spec.noise:
        image = _noisy(image, random.Random(f"noise/{spec.seed}/{number}"))
    if spec.skew:
        image = image.rotate(spec.skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    if spec.rotate % 360:
        # The page needs turning ``rotate`` degrees clockwise to be upright again.
        image = image.transpose(turns[spec.rotate % 360])
    return image


def _noisy(image: Image.Image, rng: random.Random) -> Image.Image:
    """Slight blur plus salt-and-pepper specks, as from a dusty scanner glass."""
    image = image.filter(ImageFilter.GaussianBlur(radius=max(0.6, image.width / 2550)))
    pixels = image.load()
    for _ in range(image.width * image.height // 400):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        pixels[x, y] = 0 if rng.random() < 0.5 else 255
    return image


def make_chart(spec: ChartSpec, out: Path, fmt: str = "pdf", dpi: int = 300) -> SyntheticChart:
    """Write the chart to ``out`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt in ("png", "jpeg") and spec.pages != 1:
        raise ValueError(f"{fmt} holds one page; use pdf or tiff for {spec.pages} pages")
    if spec.rotate % 90:
        raise ValueError("rotate must be a multiple of 90 degrees")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf-text":
        texts = _born_digital(spec, out, dpi)
        return SyntheticChart(path=out, spec=spec, page_texts=texts)
    pages = [render_page(spec, n, dpi) for n in range(1, spec.pages + 1)]
    _save([image for image, _ in pages], out, fmt, dpi)
    return SyntheticChart(path=out, spec=spec, page_texts=tuple(text for _, text in pages))


def _save(images: list[Image.Image], out: Path, fmt: str, dpi: int) -> None:
    first, rest = images[0], images[1:]
    if fmt == "pdf":
        first.save(out, "PDF", save_all=True, append_images=rest, resolution=float(dpi))
    elif fmt == "tiff":
        first.save(out, "TIFF", save_all=True, append_images=rest, dpi=(dpi, dpi),
                   compression="tiff_lzw")
    elif fmt == "tiff-g4":
        bilevel = [im.point(lambda v: 255 if v > 150 else 0).convert("1") for im in images]
        bilevel[0].save(out, "TIFF", save_all=True, append_images=bilevel[1:], dpi=(dpi, dpi),
                        compression="group4")
    elif fmt == "png":
        first.save(out, "PNG", dpi=(dpi, dpi))
    else:
        first.save(out, "JPEG", dpi=(dpi, dpi), quality=90)


def _born_digital(spec: ChartSpec, out: Path, dpi: int) -> tuple[str, ...]:
    """The same pages as a PDF with real text (reportlab), upright and clean."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    for name, path in (("DejaVuSans", FONT_REGULAR), ("DejaVuSans-Bold", FONT_BOLD)):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
    width, height = (side * 72 for side in PAGE_INCHES)
    margin = MARGIN_INCHES * 72
    pdf = canvas.Canvas(str(out), pagesize=(width, height), invariant=1)
    texts = []
    for number in range(1, spec.pages + 1):
        lines = page_lines(spec, number, round((PAGE_INCHES[0] - 2 * MARGIN_INCHES) * dpi), dpi)
        y = height - margin
        for style, text in lines:
            if style == "gap":
                y -= BODY_PT * 0.8
                continue
            bold, points = _STYLES[style]
            y -= points * 1.2
            pdf.setFont("DejaVuSans-Bold" if bold else "DejaVuSans", points)
            pdf.drawString(margin, y, text)
            y -= points * 0.25
        pdf.showPage()
        texts.append(truth(lines))
    pdf.save()
    return tuple(texts)


def write_batch(folder: Path, charts: int, seed: int, fmt: str = "pdf", dpi: int = 300,
                **options: object) -> list[SyntheticChart]:
    """``charts`` charts for fake patients into ``folder``, with ``truth.json`` beside them
    (file name, MRN, patient, document type, dates, and each page's text)."""
    folder = Path(folder)
    patients = fake_patients(max(1, charts // 2), seed)
    made = []
    for index in range(charts):
        spec = spec_for(patients[index % len(patients)], seed * 1000 + index, **options)
        name = f"{spec.mrn}-{spec.doc_type.lower().replace(' ', '-')}-{index:03d}"
        made.append(make_chart(spec, folder / f"{name}.{fmt.split('-')[0]}", fmt, dpi))
    truth = [{"file": c.path.name, "mrn": c.spec.mrn, "patient": c.spec.patient_name,
              "date_of_birth": c.spec.date_of_birth.isoformat(), "doc_type": c.spec.doc_type,
              "service_date": c.spec.service_date.isoformat(), "pages": list(c.page_texts)}
             for c in made]
    (folder / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return made


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m chartvault.synthetic FOLDER``: a batch of fake charts for a demo."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--charts", type=int, default=10)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fmt", choices=FORMATS, default="pdf")
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--noise", action="store_true")
    parser.add_argument("--skew", type=float, default=0.0)
    parser.add_argument("--rotate", type=int, default=0, choices=(0, 90, 180, 270))
    args = parser.parse_args(argv)
    pages = 1 if args.fmt in ("png", "jpeg") else args.pages
    made = write_batch(args.folder, args.charts, args.seed, args.fmt, args.dpi, pages=pages,
                       noise=args.noise, skew=args.skew, rotate=args.rotate)
    print(f"{len(made)} charts in {args.folder} (ground truth in truth.json)")


if __name__ == "__main__":
    main()
