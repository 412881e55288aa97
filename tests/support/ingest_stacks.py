"""Scanned stacks for the intake tests: synthetic chart pages with cover sheets
and separator sheets rasterised in between, written as one image-only PDF or TIFF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from chartvault.synthetic import ChartSpec, fake_patients, render_page
from ingest.barcodes import CoverSheet
from ingest.coversheet import cover_sheet_image


@dataclass(frozen=True)
class StackPart:
    cover: CoverSheet | None  # None: a PATCH T sheet, or no sheet when first
    pages: int
    spec: ChartSpec
    texts: tuple[str, ...] = ()


def patch_t_image(dpi: int) -> Image.Image:
    """A plain separator sheet: a Code 39 'PATCHT' barcode, big, on a blank page."""
    import zxingcpp

    barcode = zxingcpp.create_barcode("PATCHT", zxingcpp.BarcodeFormat.Code39)
    code = Image.fromarray(np.asarray(barcode.to_image(scale=max(2, dpi // 50)))).convert("L")
    page = Image.new("L", (round(8.5 * dpi), 11 * dpi), 255)
    page.paste(code, ((page.width - code.width) // 2, dpi * 2))
    return page


def data_matrix_image(value: str, dpi: int = 150) -> Image.Image:
    """A separator sheet printed as a Data Matrix symbol (a plain value or a cover
    sheet's payload) instead of PATCH T's Code 39."""
    import zxingcpp

    symbol = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.DataMatrix)
    code = Image.fromarray(np.asarray(symbol.to_image(scale=dpi // 15))).convert("L")
    page = Image.new("L", (round(8.5 * dpi), 11 * dpi), 255)
    page.paste(code, (dpi, dpi))
    return page


def three_patients() -> list[CoverSheet]:
    return [CoverSheet(mrn=p.mrn, doc_type=t, patient_name=p.name, date_of_birth=p.date_of_birth)
            for p, t in zip(fake_patients(3, seed=606),
                            ("discharge_summary", "progress_notes", "lab_results"), strict=True)]


def spec_for_cover(cover: CoverSheet, pages: int, seed: int) -> ChartSpec:
    return ChartSpec(mrn=cover.mrn, patient_name=cover.patient_name,
                     date_of_birth=cover.date_of_birth or date(1970, 1, 1),
                     doc_type=cover.doc_type, service_date=date(2024, 3, 4), pages=pages,
                     seed=seed, paragraphs=1)


def write_stack(layout: list[tuple[str, CoverSheet | None, int]], out: Path, dpi: int = 150,
                fmt: str = "pdf") -> list[tuple[str, ...]]:
    """``layout``: (sheet, cover, chart pages) with sheet "cover", "duplex" (a cover
    sheet and its blank back), "patch" or "none".
    Returns the ground-truth texts of each part's chart pages."""
    images, texts = [], []
    for index, (sheet, cover, pages) in enumerate(layout):
        if sheet == "cover":
            images.append(cover_sheet_image(cover, dpi))
        elif sheet == "patch":
            images.append(patch_t_image(dpi))
        elif sheet == "duplex":  # a cover sheet and its blank back, with scanner dust
            images.append(cover_sheet_image(cover, dpi))
            back = Image.new("L", (round(8.5 * dpi), 11 * dpi), 255)
            for n in range(0, back.width * back.height, 997):
                back.putpixel((n % back.width, n // back.width), 0)
            images.append(back)
        spec = spec_for_cover(cover or CoverSheet(mrn="TST999999"), pages, seed=700 + index)
        rendered = [render_page(spec, n, dpi) for n in range(1, pages + 1)]
        images += [image for image, _ in rendered]
        texts.append(tuple(text for _, text in rendered))
    first, rest = images[0], images[1:]
    if fmt == "pdf":
        first.save(out, "PDF", save_all=True, append_images=rest, resolution=float(dpi))
    else:
        first.save(out, "TIFF", save_all=True, append_images=rest, dpi=(dpi, dpi),
                   compression="tiff_lzw")
    return texts


def enqueue_elsewhere(function: str, ids: list[str]) -> None:
    """Call ``function`` ("ocr.tasks.enqueue_document") for each id in a fresh
    interpreter: the in-process Celery app keeps the broker of the first test that
    imported it, while the worker of this test reads this test's queue."""
    import os
    import subprocess
    import sys

    module, name = function.rsplit(".", 1)
    code = (f"import sys\nfrom {module} import {name}\n"
            f"for i in sys.argv[1:]:\n    {name}(i)\n")
    subprocess.run([sys.executable, "-c", code, *ids], env=dict(os.environ), check=True,
                   timeout=120)
