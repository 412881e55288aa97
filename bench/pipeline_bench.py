"""End-to-end OCR pipeline figures, measured side by side in one run.

    .venv/bin/python bench/pipeline_bench.py overhead --pages 6
    .venv/bin/python bench/pipeline_bench.py scaling --pages 20
    .venv/bin/python bench/pipeline_bench.py ocrmypdf --pages 6
    .venv/bin/python bench/pipeline_bench.py memory --pages 50 500

Every run uses a fresh embedded installation in a temporary CHARTVAULT_HOME and a
real Celery worker subprocess (the product's code path), synthetic 300-dpi
letter pages (``chartvault.synthetic``) with known ground truth, and
OMP_THREAD_LIMIT=1 everywhere.

- overhead: seconds per page from the file to text stored and indexed, one
  worker process, against the raw ``tesseract`` CLI (OMP_THREAD_LIMIT=1) on the
  same pages rasterised by pdftoppm beforehand. Target <= 1.10.
- scaling: the same chart with 2 worker processes against 1. Target >= 1.8x.
- ocrmypdf: OCRmyPDF (``--output-type pdf -j N``) against Chartvault with N
  worker processes on the same PDF, with the character error rate of both.
- memory: peak RSS of the worker (every process of it) while it OCRs an
  N-page chart, for several N: should be flat in N and <= 400 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from rapidfuzz.distance import Levenshtein

os.environ["OMP_THREAD_LIMIT"] = "1"


def cer(text: str, truth: str) -> float:
    a, b = " ".join(text.split()), " ".join(truth.split())
    return Levenshtein.distance(a, b) / max(1, len(b))


PARAGRAPHS = 4  # body paragraphs per synthetic page (--paragraphs): 4 is a half-full page


def make_pdf(folder: Path, pages: int, seed: int = 1):  # noqa: ANN201
    from chartvault.synthetic import ChartSpec, make_chart

    spec = ChartSpec(mrn="TST424242", patient_name="BENCHMARK, Test", doc_type="progress_notes",
                     date_of_birth=date(1950, 1, 1), service_date=date(2024, 1, 1),
                     pages=pages, seed=seed, paragraphs=PARAGRAPHS)
    return make_chart(spec, folder / f"chart-{pages}.pdf", fmt="pdf", dpi=300)


class Installation:
    """A fresh embedded Chartvault in a temporary home, with its own worker."""

    def __init__(self, root: Path, concurrency: int) -> None:
        self.home = root / f"home-{concurrency}-{time.monotonic_ns()}"
        self.env = {**os.environ, "CHARTVAULT_HOME": str(self.home), "OMP_THREAD_LIMIT": "1"}
        self.concurrency = concurrency
        self.worker: subprocess.Popen | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True)
        self._python("from chartvault.db import session_scope; "
                     "from chartvault.settings import get_settings; "
                     "session_scope(get_settings()).__enter__()")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chartvault.celery_app", "worker", "-Q",
             "chartvault", "--concurrency", str(self.concurrency), "--loglevel", "WARNING",
             "--without-mingle", "--without-gossip"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)  # worker boot, outside the timed part

    def stop(self) -> None:
        if self.worker:
            self.worker.terminate()
            self.worker.wait(60)

    def _python(self, code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def ingest_and_wait(self, pdf: Path) -> tuple[float, list[str]]:
        """Seconds from ingest to indexed, and the stored text of each page."""
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "chartvault", "ingest", str(pdf),
                              "--mrn", "TST424242", "--json"], env=self.env,
                             capture_output=True, text=True, check=True).stdout
        import json

        document_id = json.loads(out)["documents"][0]["id"]
        code = ("import time; from chartvault.db import session_scope;"
                "from chartvault.settings import get_settings; from chartvault.models import "
                "Document\nwhile True:\n with session_scope(get_settings()) as s:\n"
                f"  d = s.get(Document, '{document_id}')\n"
                "  if d.status in ('indexed', 'failed'):\n"
                "   print(d.status); [print(repr(p.text)) for p in d.pages]; break\n"
                " time.sleep(0.2)")
        lines = self._python(code).splitlines()
        elapsed = time.perf_counter() - started
        import ast

        return elapsed, [ast.literal_eval(line) for line in lines[1:]]

    def worker_pids(self) -> list[int]:
        if not self.worker:
            return []
        pids = [self.worker.pid]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().split()
                except OSError:
                    continue
                if int(stat[3]) in pids:
                    pids.append(int(pid))
        return pids


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def raw_tesseract(pdf: Path, pages: int, work: Path) -> float:
    """Seconds of the tesseract CLI alone on pages rasterised beforehand (not timed)."""
    subprocess.run(["pdftoppm", "-r", "300", "-gray", str(pdf), str(work / "p")], check=True)
    images = sorted(work.glob("p*.pgm"))[:pages]
    started = time.perf_counter()
    for image in images:
        subprocess.run(["tesseract", str(image), str(image.with_suffix("")), "-l", "eng"],
                       check=True, capture_output=True, env={**os.environ,
                                                             "OMP_THREAD_LIMIT": "1"})
    return time.perf_counter() - started


def run_chartvault(root: Path, workers: int, pdf: Path) -> tuple[float, list[str]]:
    """Seconds from ingest to indexed with ``workers`` worker processes, and the texts."""
    inst = Installation(root, workers)
    inst.start()
    try:
        return inst.ingest_and_wait(pdf)
    finally:
        inst.stop()


def overhead(args: argparse.Namespace, root: Path) -> None:
    chart = make_pdf(root, args.pages)
    raw = raw_tesseract(chart.path, args.pages, root)
    ours, texts = run_chartvault(root, 1, chart.path)
    n = args.pages
    print(f"overhead  pages={n}  raw tesseract {raw / n:.2f} s/page  "
          f"chartvault (1 worker, file -> indexed) {ours / n:.2f} s/page  "
          f"ratio {ours / raw:.2f}  (target <= 1.10)")
    print(f"          CER chartvault {sum(map(cer, texts, chart.page_texts)) / n:.4f}")


def scaling(args: argparse.Namespace, root: Path) -> None:
    chart = make_pdf(root, args.pages)
    times = {workers: run_chartvault(root, workers, chart.path)[0] for workers in (1, 2)}
    print(f"scaling   pages={args.pages}  1 worker {times[1]:.1f} s  2 workers {times[2]:.1f} s"
          f"  speed-up {times[1] / times[2]:.2f}x  (target >= 1.8x)")


def ocrmypdf(args: argparse.Namespace, root: Path) -> None:
    chart = make_pdf(root, args.pages)
    out = root / "ocrmypdf.pdf"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ocrmypdf", "--output-type", "pdf", "-j",
                    str(args.jobs), "-l", "eng", str(chart.path), str(out)], check=True,
                   capture_output=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    theirs = time.perf_counter() - started
    their_texts = [subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), str(out), "-"],
                                  capture_output=True, text=True, check=True).stdout
                   for i in range(1, args.pages + 1)]
    ours, texts = run_chartvault(root, args.jobs, chart.path)
    n = args.pages
    print(f"ocrmypdf  pages={n} processes={args.jobs}  OCRmyPDF {theirs:.1f} s  "
          f"chartvault {ours:.1f} s  ratio {ours / theirs:.2f}")
    print(f"          CER OCRmyPDF {sum(map(cer, their_texts, chart.page_texts)) / n:.4f}  "
          f"chartvault {sum(map(cer, texts, chart.page_texts)) / n:.4f}")


def _sample_rss(inst: Installation, peak: dict[str, float], done: threading.Event) -> None:
    while not done.is_set():
        sizes = [rss_mb(pid) for pid in inst.worker_pids()]
        peak["total"] = max(peak["total"], sum(sizes))
        peak["largest"] = max(peak["largest"], max(sizes, default=0.0))
        time.sleep(0.2)


def memory(args: argparse.Namespace, root: Path) -> None:
    for pages in args.sizes:
        chart = make_pdf(root, pages, seed=pages)
        inst = Installation(root, 2)
        inst.start()
        peak = {"total": 0.0, "largest": 0.0}
        done = threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(inst, peak, done))
        sampler.start()
        try:
            elapsed, texts = inst.ingest_and_wait(chart.path)
        finally:
            done.set()
            sampler.join()
            inst.stop()
        print(f"memory    pages={pages}  {elapsed:.0f} s  worker peak RSS: all processes "
              f"{peak['total']:.0f} MB, largest process {peak['largest']:.0f} MB  "
              f"(pages read {sum(1 for t in texts if t)}/{pages})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("overhead", "scaling", "ocrmypdf"):
        p = sub.add_parser(name)
        p.add_argument("--pages", type=int, default=20 if name == "scaling" else 6)
        p.add_argument("--jobs", type=int, default=2)
    p = sub.add_parser("memory")
    p.add_argument("--pages", dest="sizes", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--paragraphs", type=int, default=4,
                        help="body paragraphs per page (8 fills a letter page)")
    args = parser.parse_args()
    global PARAGRAPHS
    PARAGRAPHS = args.paragraphs
    root = Path(tempfile.mkdtemp(prefix="chartvault-bench-"))
    try:
        {"overhead": overhead, "scaling": scaling, "ocrmypdf": ocrmypdf,
         "memory": memory}[args.what](args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
