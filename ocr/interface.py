"""The ``OcrEngine`` role and the values the OCR stage hands on.

An engine reads one upright page image and returns its text, word boxes and
a one-page searchable PDF (or, when asked, a text-only PDF page to lay over
the original scan). Errors are translated at the engine's edge into
:class:`OcrFailed` (permanent for that page) or :class:`OcrTimeout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from chartvault.errors import BadInput, ChartvaultError
from chartvault.types import WordBox


class OcrFailed(ChartvaultError):
    code = "ocr_failed"
    http_status = 422


class OcrTimeout(OcrFailed):
    code = "ocr_timeout"


class UnreadableFile(BadInput):
    """The file cannot be rasterised: corrupt, encrypted, truncated, too large, wrong type.

    ``code`` says which (``empty_file``, ``corrupt_pdf``, ``encrypted_pdf``,
    ``truncated_image``, ``image_too_large``, ``too_many_pages``, ``unsupported_type``...).
    """

    code = "unreadable_file"


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # pdf | tiff | png | jpeg
    mime: str
    page_count: int


@dataclass(frozen=True)
class Recognition:
    text: str
    words: tuple[WordBox, ...]
    confidence: float | None  # mean word confidence 0..100; None when there are no words
    pdf: bytes  # one-page PDF: the image with an invisible text layer (or the layer alone)
    text_only: bool = False  # ``pdf`` is the invisible text alone, no image


@dataclass(frozen=True)
class Orientation:
    rotate: int  # degrees clockwise to make the page upright: 0, 90, 180, 270
    confidence: float


@dataclass(frozen=True)
class PageResult:
    number: int  # 1-based
    text: str
    words: tuple[WordBox, ...]
    confidence: float | None
    width: int
    height: int
    dpi: int
    rotation: int  # degrees applied to make the page upright
    skew: float  # degrees corrected
    source: str  # "ocr" | "text-layer"
    blank: bool
    images: dict[str, Path]  # the viewer's page images of the upright page: small, large
    pdf_path: Path  # one-page searchable PDF, in the work dir


@runtime_checkable
class OcrEngine(Protocol):
    def recognize(self, image: Path, *, language: str, dpi: int, timeout: int,
                  text_only: bool = False) -> Recognition: ...

    def orientation(self, image: Path, *, timeout: int) -> Orientation: ...

    def languages(self) -> set[str]: ...

    def warm(self, language: str) -> None:
        """Load what reading ``language`` needs now, not in the first page (a worker
        process as it starts). Raises :class:`OcrFailed` when it cannot."""
        ...
