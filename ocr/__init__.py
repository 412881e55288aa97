"""The OCR stage: rasterise, clean up, recognise, make searchable PDFs.

Other packages call :mod:`ocr.service`; the engine is an :class:`OcrEngine`.
"""

from ocr.interface import (
    OcrEngine,
    OcrFailed,
    OcrTimeout,
    Orientation,
    PageResult,
    Recognition,
    SourceInfo,
    UnreadableFile,
)
from ocr.service import default_engine, inspect, merge_pdfs, ocr_page

__all__ = [
    "OcrEngine",
    "OcrFailed",
    "OcrTimeout",
    "Orientation",
    "PageResult",
    "Recognition",
    "SourceInfo",
    "UnreadableFile",
    "default_engine",
    "inspect",
    "merge_pdfs",
    "ocr_page",
]
