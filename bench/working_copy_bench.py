"""What a page task's own copy of the original costs (issue 20, item 5).

    .venv/bin/python bench/working_copy_bench.py --pages 20 --rounds 20
    .venv/bin/python bench/working_copy_bench.py --pages 20 --run-pages

``--run-pages`` instead runs the OCR stage's page tasks (``ocr.pipeline.run_page``) over
the chart in this process, after the real intake, and prints the CPU and wall seconds a
page: run it with ``PYTHONPATH`` at another checkout to compare two versions of the
pipeline in the same minutes (this host's speed drifts by the hour).

The OCR page task decrypts the document's original from the store into its own folder
and removes it when it ends, instead of reading a plaintext copy kept for ever in a
shared cache. This times that fetch (the store's ``get``, decrypting, into a file, as
``ocr.pipeline._download`` does) for the pipeline bench's 300-dpi chart, on the embedded
encrypted store in a fresh CHARTVAULT_HOME, and prints it per page and per chart beside
the page's OCR time measured by the pipeline bench (RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--run-pages", action="store_true")
    args = parser.parse_args()
    if args.run_pages:
        run_pages(args.pages)
        return
    with tempfile.TemporaryDirectory(prefix="cv-working-copy-") as tmp:
        root = Path(tmp)
        os.environ["CHARTVAULT_HOME"] = str(root / "home")
        from pipeline_bench import make_pdf

        from archive import open_store
        from chartvault.settings import get_settings
        from ocr import pipeline

        pdf = make_pdf(root, args.pages)
        store = open_store(get_settings())
        with pdf.path.open("rb") as stream:
            info = store.put("documents/bench/original.pdf", stream,
                             content_type="application/pdf", retain_until=None)
        size_mb = info.size / 1e6
        workdir = root / "task"
        workdir.mkdir()
        wall, cpu = [], []
        for _ in range(args.rounds):
            target = workdir / "original"
            w0, c0 = time.perf_counter(), time.process_time()
            pipeline._download("documents/bench/original.pdf", info.version_id, target)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            target.unlink()
        w, c = statistics.median(wall), statistics.median(cpu)
        print(f"original: {args.pages} pages, {size_mb:.2f} MB (encrypted store)")
        print(f"one fetch (median of {args.rounds}): wall {w * 1000:.1f} ms, CPU {c * 1000:.1f} ms"
              f" = {w * 1000 / size_mb:.2f} ms a MB")
        print(f"a fetch per page: {args.pages} fetches = wall {w * args.pages:.3f} s, "
              f"CPU {c * args.pages:.3f} s for the chart (was 1 fetch per worker machine)")


def run_pages(pages: int) -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="cv-working-copy-") as tmp:
        root = Path(tmp)
        os.environ["CHARTVAULT_HOME"] = str(root / "home")
        from pipeline_bench import make_pdf

        import ocr
        from archive import open_store
        from chartvault.settings import get_settings
        from ingest.service import IncomingFile, IntakeOptions, ingest_files
        from ocr import pipeline

        pdf = make_pdf(root, pages)
        settings = get_settings()
        queued: list[str] = []
        ingest_files(settings, open_store(settings), [IncomingFile(pdf.path, "chart.pdf")],
                     IntakeOptions(actor="bench", mrn="TST424242", doc_type="progress_notes"),
                     queued.append)
        (document_id,) = queued
        numbers = pipeline.start_document(document_id)
        pipeline.run_page(document_id, numbers.pop(0))  # the engine's start-up, not timed
        w0, c0 = time.perf_counter(), time.process_time()
        for number in numbers:
            pipeline.run_page(document_id, number)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        left = sorted(p.name for p in (root / "home" / "work").rglob("*"))
    print(f"{Path(ocr.__file__).parent.parent}: {len(numbers)} page tasks, a page: "
          f"CPU {cpu / len(numbers):.3f} s, wall {wall / len(numbers):.3f} s; "
          f"left in work/: {left or 'nothing'}")


if __name__ == "__main__":
    main()
