"""The pipeline bench's probe inside a Celery worker (``pipeline_bench.py --probe``).

On ``PYTHONPATH``, with ``CHARTVAULT_BENCH_PROBE`` naming a file prefix, only in
the environment of the bench's worker (not its command line or poller): every OCR
engine run (``OcrEngine.recognize``; an orientation check, when a page needs one,
counts with its page task), every page task and every document's finish appends one
line (JSON) to ``<prefix>.<pid>`` with the CPU seconds of the calling thread, plus the
CPU of any child process it waited for (the ``tesseract`` command), and when it began
and ended (``time.monotonic``).
It separates what Tesseract itself spent from what Chartvault spent around it on the
same pages, which the bench cannot see from outside the worker.
Measurement only: no product code imports this, and it changes no result.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import time

PREFIX = os.environ.get("CHARTVAULT_BENCH_PROBE")


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + children.ru_utime + children.ru_stime


def _probed(kind: str, function):  # noqa: ANN001, ANN202
    @functools.wraps(function)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        cpu, began = _cpu(), time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            line = {"kind": kind, "cpu": _cpu() - cpu, "began": began,
                    "ended": time.monotonic()}
            with open(f"{PREFIX}.{os.getpid()}", "a") as out:
                out.write(json.dumps(line) + "\n")
    return run


if PREFIX:
    from ocr import pipeline, tesseract, tesserocr_engine

    for engine in (tesseract.TesseractEngine, tesserocr_engine.TesserocrEngine):
        engine.recognize = _probed("engine", engine.recognize)
    pipeline.run_page = _probed("page", pipeline.run_page)
    pipeline.finish_document = _probed("finish", pipeline.finish_document)
