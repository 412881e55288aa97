"""A small run of bench/load_api.py (concurrent uploaders through the HTTP API) as a
test: every chart archived, indexed and searchable once, searches answered all along.
The full 20 x 10 figures are in bench/RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load_api.py"


def test_concurrent_api_uploads_all_archived_once(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(BENCH), "--uploaders", "4", "--charts", "2",
                           "--timeout", "240", "--json", str(out)], capture_output=True,
                          text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["upload_failures"] == []
    for name in ("accepted", "documents", "indexed", "distinct_sha256", "in_index",
                 "searchable_by_mrn"):
        assert result[name] == 8, (name, result)
    assert result["duplicate_originals"] == 0 and result["originals_missing_or_altered"] == 0
    assert result["search_errors"] == 0
