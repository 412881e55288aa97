"""Word boxes of a born-digital PDF page, from poppler's ``pdftotext -bbox``.

The page's text itself comes from pypdf (:func:`ocr.pdf.page_facts`); this adds
where each word sits, in the pixels of the page image rendered at ``dpi``, so
born-digital pages can be highlighted like OCR'd ones. Best effort: any
failure gives no boxes, never an error, since the text is already in hand.
"""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

from chartvault.types import WordBox

_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"(.*?)</word>")
TEXT_LAYER_CONFIDENCE = 100.0


def text_layer_words(path: Path, number: int, dpi: int, timeout: int) -> tuple[WordBox, ...]:
    """Boxes of the words on page ``number`` (1-based), scaled to ``dpi``; () on failure."""
    args = ["pdftotext", "-f", str(number), "-l", str(number), "-bbox", "-q", str(path), "-"]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=True, text=True,
                              errors="replace")
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_bbox_html(done.stdout, (dpi or 72) / 72)


def parse_bbox_html(document: str, scale: float) -> tuple[WordBox, ...]:
    words = []
    for x0, y0, x1, y1, text in _WORD.findall(document):
        text = html.unescape(text).strip()
        if not text:
            continue
        left, top = round(float(x0) * scale), round(float(y0) * scale)
        words.append(WordBox(text=text, left=left, top=top,
                             width=max(1, round(float(x1) * scale) - left),
                             height=max(1, round(float(y1) * scale) - top),
                             confidence=TEXT_LAYER_CONFIDENCE))
    return tuple(words)
