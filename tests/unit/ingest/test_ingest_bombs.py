"""Decompression bombs are quarantined at intake in seconds, in bounded memory, and the
rest of their batch goes on (issue 21). Through the real command, `chartvault ingest`.

On main the 20-page Flate bomb held its upload for 89 s and a worker at 650 MB; the
image bombs passed intake (within the pixel limit, or declaring no pixels at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support import bombs

WORKER_CAP_MB = 350  # CHARTVAULT_WORKER_MAX_MEMORY_MB's default


def _ingest(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, int]:
    """`chartvault ingest ARGS --json` in a process of its own; (result, peak RSS in MB)."""
    script = textwrap.dedent(f"""
        import atexit, sys
        # VmHWM, not ru_maxrss: Linux carries the forking parent's peak over the exec
        atexit.register(lambda: sys.stderr.write(next(
            "maxrss_kb=%s\\n" % line.split()[1] for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))))
        from chartvault.cli import run
        sys.argv = ["chartvault", "ingest", *{list(args)!r}, "--json"]
        run()
    """)
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    peak = [line for line in done.stderr.splitlines() if line.startswith("maxrss_kb=")]
    return done, int(peak[-1].split("=")[1]) // 1024


BOMBS = {
    "flate-content-20pp.pdf": bombs.flate_content_bomb,
    "jbig2.pdf": bombs.jbig2_bomb,
    "ccitt.pdf": bombs.ccitt_bomb,
    "flate-image.pdf": lambda out: bombs.flate_image_bomb(out, side=10_000),  # 286 MB
    "image-bomb.png": bombs.png_bomb,
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_quarantined_in_seconds_under_the_memory_cap(cv_env, tmp_path, small_chart,
                                                             name):
    bomb = BOMBS[name](tmp_path / name)
    good = small_chart("good.pdf")
    started = time.monotonic()
    done, peak_mb = _ingest(cv_env, str(bomb), str(good), "--mrn", "TST000123")
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    report = {d["filename"]: d for d in json.loads(done.stdout)["documents"]}
    assert report[name]["status"] == "quarantined"
    assert report[name]["code"] == "decompression_bomb", report[name]
    assert "CHARTVAULT_MAX_PAGE_DECODED_MB" in report[name]["reason"]
    assert report["good.pdf"]["status"] == "queued"  # the rest of the batch goes on
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"
    assert peak_mb < WORKER_CAP_MB, f"{name}: intake peaked at {peak_mb} MB"


def test_many_pages_each_under_the_page_limit_hit_the_document_limit(cv_env, tmp_path):
    # 1,000 pages sharing a 40 MB stream: 40 GB decoded, each page within its 250 MB
    bomb = bombs.flate_content_bomb(tmp_path / "thousand.pdf", pages=1000, mb=40)
    assert bomb.stat().st_size < 1_000_000
    done, _ = _ingest(cv_env, str(bomb), "--mrn", "TST000123")
    entry = json.loads(done.stdout)["documents"][0]
    assert entry["code"] == "decompression_bomb"
    assert "CHARTVAULT_MAX_DOCUMENT_DECODED_MB" in entry["reason"]


def test_a_real_scan_is_far_inside_the_limits(settings, small_chart):
    from ocr.bombs import check_pdf_decoded

    check_pdf_decoded(small_chart("ten.pdf", pages=10), "ten.pdf", settings)
