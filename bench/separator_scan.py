"""The separator scan of a stack, by the symbologies searched: milliseconds a page.

Every page of every stack taken in is searched for separator sheets before its first
document can be queued for OCR; each symbology searched costs every page. Side by side
in one run, alternating: ``find_segments`` on one synthetic chart (300-dpi scans, no
separator sheet: every page searched to the end; the pipeline bench's chart), on the
threads intake uses, for each set of symbologies given.

    .venv/bin/python bench/separator_scan.py --pages 20 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pipeline_bench import make_pdf  # bench/ is the script's own folder: on sys.path

from chartvault.settings import DEFAULT_SEPARATOR_SYMBOLOGIES, SEPARATOR_SYMBOLOGIES, Settings
from ingest.splitting import find_segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sets", nargs="+", default=[",".join(DEFAULT_SEPARATOR_SYMBOLOGIES),
                                                       ",".join(SEPARATOR_SYMBOLOGIES)],
                        help="comma-separated symbology sets to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="separator-bench-") as tmp:
        chart = make_pdf(Path(tmp), args.pages).path  # the pipeline bench's chart
        base = Settings(home=Path(tmp) / "home")
        sets = [tuple(s.split(",")) for s in args.sets]
        find_segments(chart, "pdf", args.pages, base)  # libraries loaded, file cached
        timings: dict[tuple[str, ...], list[float]] = {s: [] for s in sets}
        for round_ in range(args.rounds):
            for symbologies in sets if round_ % 2 == 0 else reversed(sets):
                settings = base.replace(separator_symbologies=symbologies)
                started = time.perf_counter()
                segments = find_segments(chart, "pdf", args.pages, settings)
                timings[symbologies].append((time.perf_counter() - started) / args.pages)
                assert [s.pages for s in segments] == [list(range(1, args.pages + 1))]
    for symbologies, each in timings.items():
        print(f"separator scan  {','.join(symbologies):32} {args.pages} pages: "
              f"{statistics.median(each) * 1000:.1f} ms a page (median of {args.rounds}; by "
              f"round {', '.join(f'{t * 1000:.1f}' for t in each)})")


if __name__ == "__main__":
    main()
