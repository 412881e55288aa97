"""``TesserocrEngine``: Tesseract's C API in the worker process, through tesserocr.

The ``tesseract`` command loads its model again for every page (about 0.1 s of
CPU a page); this engine loads it once per worker process (as the process starts:
:meth:`TesserocrEngine.warm`) and keeps it. tesserocr is built on Debian's
libtesseract (``scripts/setup.sh``, the Dockerfile), so it reads exactly as the
``tesseract`` command does, from the system's tessdata. The default engine
(``CHARTVAULT_OCR_ENGINE=tesserocr``); ``tesseract`` chooses the command line.

Safety: every run has a deadline (Tesseract's own, in milliseconds) and fails
cleanly on an unreadable image. A crash inside the library takes the worker's
pool process with it; Celery replaces the process and redelivers the page
(acks_late, reject_on_worker_lost), and the pipeline gives up on a page after
``MAX_PAGE_ATTEMPTS`` (see :mod:`ocr.pipeline`), so a poison page cannot loop.
The API objects are made lazily, after the pool has forked, one per process.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from ocr.interface import OcrFailed, OcrTimeout, Orientation, Recognition
from ocr.tesseract import parse_tsv

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before the library starts any thread

import tesserocr  # noqa: E402 - after the thread limit

DEFAULT_TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")


class TesserocrEngine:
    """An :class:`~ocr.interface.OcrEngine` that keeps Tesseract loaded.

    ``tessdata`` is the folder of ``*.traineddata`` (Debian's by default).
    Safe to share between threads (one run at a time per process)."""

    def __init__(self, tessdata: Path | None = None) -> None:
        self.tessdata = Path(tessdata or DEFAULT_TESSDATA)
        self._apis: dict[str, tesserocr.PyTessBaseAPI] = {}
        self._lock = threading.Lock()

    def recognize(self, image: Path, *, language: str, dpi: int, timeout: int,
                  text_only: bool = False) -> Recognition:
        """As :meth:`ocr.tesseract.TesseractEngine.recognize`: text, word boxes, mean
        confidence and a one-page PDF (text only with ``text_only``) from one run."""
        with self._lock, tempfile.TemporaryDirectory(prefix="cv-tess-") as tmp:
            api = self._api(language, tesserocr.PSM.AUTO)
            base = Path(tmp) / "out"
            for name, value in (("textonly_pdf", "1" if text_only else "0"),
                                ("user_defined_dpi", str(dpi) if dpi > 0 else "0")):
                api.SetVariable(name, value)
            started = time.monotonic()
            ok = api.ProcessPages(str(base), str(image), timeout=max(1, timeout) * 1000)
            if not ok:
                self._fail(image, started, timeout)
            try:
                pdf = base.with_suffix(".pdf").read_bytes()
            except OSError as e:
                raise OcrFailed(f"tesseract wrote no PDF for {image.name}: {e}") from e
            text, tsv = api.GetUTF8Text(), api.GetTSVText(0)
            api.Clear()
        words = parse_tsv(_TSV_HEADER + tsv)
        confidence = sum(w.confidence for w in words) / len(words) if words else None
        return Recognition(text=text.strip(), words=words, confidence=confidence, pdf=pdf,
                           text_only=text_only)

    def orientation(self, image: Path, *, timeout: int) -> Orientation:
        """Orientation detection; pages with too little text come back as upright with
        confidence 0 (as the CLI engine's do)."""
        with self._lock:
            api = self._api("osd", tesserocr.PSM.OSD_ONLY)
            try:
                api.SetImageFile(str(image))
            except RuntimeError as e:
                raise OcrFailed(f"tesseract cannot read {image.name}: {e}") from e
            found = api.DetectOrientationScript()
            api.Clear()
        if not found:
            return Orientation(rotate=0, confidence=0.0)
        # orient_deg is how far the text is turned (counter-clockwise); Rotate is the
        # clockwise turn that puts it upright, as the CLI prints it.
        return Orientation(rotate=(360 - int(found["orient_deg"])) % 360,
                           confidence=float(found["orient_conf"]))

    def languages(self) -> set[str]:
        _, found = tesserocr.get_languages(str(self.tessdata) + os.sep)
        return set(found)

    def warm(self, language: str) -> None:
        """Load ``language``'s model now (0.1 s for ``eng``), not in the first page."""
        with self._lock:
            self._api(language, tesserocr.PSM.AUTO)

    def _api(self, language: str, psm: int) -> tesserocr.PyTessBaseAPI:
        api = self._apis.get(language)
        if api is None:
            try:
                api = tesserocr.PyTessBaseAPI(path=str(self.tessdata) + os.sep, lang=language,
                                              psm=psm)
            except RuntimeError as e:
                raise OcrFailed(f"tesseract cannot load language {language!r} from "
                                f"{self.tessdata} ({e}); install tesseract-ocr-{language} "
                                "or set CHARTVAULT_OCR_TESSDATA") from e
            if language != "osd":
                api.SetVariable("tessedit_create_pdf", "1")
            self._apis[language] = api
        return api

    @staticmethod
    def _fail(image: Path, started: float, timeout: int) -> None:
        if time.monotonic() - started >= timeout * 0.95:
            raise OcrTimeout(f"tesseract took longer than {timeout} s and was stopped")
        raise OcrFailed(f"tesseract could not read {image.name} (not an image it can decode)")


# GetTSVText gives the rows without the header line the CLI writes.
_TSV_HEADER = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\t"
               "height\tconf\ttext\n")
