"""The service's state is readable by its own user only (issue 20, item 5): after a real
`chartvault ingest` on the embedded defaults, the catalog files are 0600 and the index,
work and store folders 0700, whatever the umask; the work folder holds nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from chartvault.synthetic import ChartSpec, make_chart

pytestmark = pytest.mark.slow


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ingest_on_embedded_defaults_makes_private_files(tmp_path: Path) -> None:
    spec = ChartSpec(mrn="TST000321", patient_name="TESTPATIENT, Dora",
                     date_of_birth=date(1961, 2, 3), doc_type="progress_notes",
                     service_date=date(2024, 5, 6), pages=2, seed=3, paragraphs=1)
    chart = make_chart(spec, tmp_path / "chart.pdf", dpi=150)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTVAULT_")}
    env.update(CHARTVAULT_HOME=str(home), CHARTVAULT_OCR_DPI="150")
    old = os.umask(0o022)  # the usual umask: files 0644 and folders 0755 unless made private
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chartvault", "ingest", str(chart.path), "--mrn", spec.mrn,
             "--type", spec.doc_type, "--wait", "--json"],
            env=env, capture_output=True, text=True, timeout=600)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert [d["status"] for d in json.loads(done.stdout)["documents"]] == ["indexed"]

    assert _mode(home) == 0o700
    catalog = home / "catalog.sqlite3"
    files = [catalog] + [p for p in (Path(f"{catalog}-wal"), Path(f"{catalog}-shm"))
                         if p.exists()]
    assert {p.name: oct(_mode(p)) for p in files} == {p.name: "0o600" for p in files}
    assert _mode(home / "secrets.json") == 0o600
    for name in ("index", "work", "objects"):
        folders = [home / name, *(p for p in (home / name).rglob("*") if p.is_dir())]
        loose = {str(p.relative_to(home)): oct(_mode(p)) for p in folders if _mode(p) != 0o700}
        assert loose == {}, name
    assert list((home / "work").iterdir()) == []  # no working copy outlived its task
