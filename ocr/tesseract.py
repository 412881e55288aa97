"""``TesseractEngine``: the Tesseract command line, wrapped once.

One ``tesseract`` run per page gives the text, the word boxes (TSV) and the
one-page searchable PDF together. Every run is single-threaded
(``OMP_THREAD_LIMIT=1``): parallelism comes from worker processes, and
Tesseract's own threads only fight over the cores. Every failure of the
subprocess is translated here into :class:`OcrFailed` or :class:`OcrTimeout`.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytesseract

from chartvault.types import WordBox
from ocr.interface import OcrFailed, OcrTimeout, Orientation, Recognition

_OSD_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.MULTILINE)
_OSD_CONFIDENCE = re.compile(r"^Orientation confidence:\s*([\d.]+)", re.MULTILINE)
# Tesseract refuses OSD on pages with too little text; that is "upright, unsure".
_OSD_TOO_FEW = ("Too few characters", "too few characters")


class TesseractEngine:
    """The :class:`~ocr.interface.OcrEngine` that runs the ``tesseract`` command for
    each page (``CHARTVAULT_OCR_ENGINE=tesseract``).

    ``command`` is the ``tesseract`` executable (a path or a name on ``PATH``).
    Stateless and safe to share between threads.
    """

    def __init__(self, command: str | None = None) -> None:
        self.command = command or pytesseract.pytesseract.tesseract_cmd or "tesseract"

    def recognize(self, image: Path, *, language: str, dpi: int, timeout: int,
                  text_only: bool = False) -> Recognition:
        """Text, word boxes, mean confidence and a one-page PDF, from one run; with
        ``text_only`` the PDF holds the invisible text alone (``textonly_pdf``), to be
        laid over the original page.

        ``dpi`` 0 means unknown (Tesseract estimates it). Raises :class:`OcrFailed`
        or :class:`OcrTimeout`.
        """
        with tempfile.TemporaryDirectory(prefix="cv-tess-") as tmp:
            base = Path(tmp) / "out"
            args = [str(image), str(base), "-l", language, "--psm", "3"]
            if dpi > 0:
                args += ["--dpi", str(dpi)]
            if text_only:
                args += ["-c", "textonly_pdf=1"]
            self._run(args + ["pdf", "tsv", "txt"], timeout=timeout)
            try:
                pdf = base.with_suffix(".pdf").read_bytes()
                tsv = base.with_suffix(".tsv").read_text(encoding="utf-8", errors="replace")
                text = base.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise OcrFailed(f"tesseract wrote no output for {image.name}: {e}") from e
        words = parse_tsv(tsv)
        confidence = sum(w.confidence for w in words) / len(words) if words else None
        return Recognition(text=text.strip(), words=words, confidence=confidence, pdf=pdf,
                           text_only=text_only)

    def orientation(self, image: Path, *, timeout: int) -> Orientation:
        """Orientation and script detection (``--psm 0``); pages with too little
        text come back as upright with confidence 0."""
        try:
            done = self._run([str(image), "stdout", "--psm", "0", "-l", "osd"], timeout=timeout)
        except OcrFailed as e:
            if isinstance(e, OcrTimeout) or not any(s in e.message for s in _OSD_TOO_FEW):
                raise
            return Orientation(rotate=0, confidence=0.0)
        out = done.stdout
        rotate, confidence = _OSD_ROTATE.search(out), _OSD_CONFIDENCE.search(out)
        if rotate is None:
            return Orientation(rotate=0, confidence=0.0)
        return Orientation(
            rotate=int(rotate.group(1)) % 360,
            confidence=float(confidence.group(1)) if confidence else 0.0,
        )

    def languages(self) -> set[str]:
        out = self._run(["--list-langs"], timeout=30).stdout
        return {line.strip() for line in out.splitlines()[1:] if line.strip()}

    def warm(self, language: str) -> None:
        """Nothing to load ahead: every page's ``tesseract`` loads its model itself."""

    def _run(self, args: list[str], *, timeout: int) -> subprocess.CompletedProcess[str]:
        """Run tesseract once; raises unless it exits 0. The only subprocess call."""
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                [self.command, *args], env=env, capture_output=True, timeout=max(1, timeout),
                check=False, text=True, errors="replace",
            )
        except subprocess.TimeoutExpired as e:
            raise OcrTimeout(f"tesseract took longer than {timeout} s and was stopped") from e
        except OSError as e:
            raise OcrFailed(
                f"cannot run {self.command!r} ({e}); install tesseract-ocr "
                "or set the engine's command"
            ) from e
        if done.returncode != 0:
            detail = " ".join((done.stderr or "").split())[-500:]
            raise OcrFailed(f"tesseract exited with {done.returncode}: {detail}")
        return done


def parse_tsv(tsv: str) -> tuple[WordBox, ...]:
    """Word-level rows (level 5) with a real confidence and non-blank text."""
    words = []
    rows = csv.DictReader(tsv.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        try:
            if row.get("level") != "5" or float(row["conf"]) < 0:
                continue
            text = (row.get("text") or "").strip()
            if not text:
                continue
            words.append(WordBox(
                text=text, left=int(row["left"]), top=int(row["top"]),
                width=int(row["width"]), height=int(row["height"]),
                confidence=float(row["conf"]),
            ))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed row is skipped, not fatal
    return tuple(words)
