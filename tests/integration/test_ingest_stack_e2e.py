"""A 30-page scanned stack with three cover sheets, through the real CLI and a real
Celery worker on the embedded defaults: three documents, three patients, the right
page counts, every part searchable under its own patient."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.support.ingest_stacks import three_patients, write_stack

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "chartvault"]


def run_cli(*args: str, env: dict[str, str], timeout: float = 280) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def distinct_word(texts: tuple[str, ...], others: list[tuple[str, ...]]) -> str:
    def words(chunk: tuple[str, ...]) -> set[str]:
        return {w.lower() for t in chunk for w in re.findall(r"[A-Za-z]{8,}", t)}

    mine = words(texts) - set().union(*(words(o) for o in others))
    assert mine, "the generator should put a distinct word in each part"
    return sorted(mine)[0]


def test_thirty_page_stack_with_three_cover_sheets(cv_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    covers = three_patients()
    stack = tmp_path / "scan-0001.pdf"
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    for n, cover in enumerate(covers):  # the printable sheets the clerk puts in the stack
        made = run_cli("coversheet", "--mrn", cover.mrn, "--type", cover.doc_type, "--name",
                       cover.patient_name, "--dob", cover.date_of_birth.isoformat(),
                       "--output", str(sheets / f"{n}.pdf"), env=cv_env)
        assert made.returncode == 0, made.stderr
    texts = write_stack([("cover", covers[0], 9), ("cover", covers[1], 10),
                         ("cover", covers[2], 8)], stack, dpi=150)
    assert len(PdfReader(stack).pages) == 30

    done = run_cli("ingest", str(stack), "--wait", "--json", env=cv_env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    documents = report["documents"]
    assert [(d["status"], d["mrn"], d["type"], d["pages"]) for d in documents] == [
        ("indexed", covers[0].mrn, "discharge_summary", 9),
        ("indexed", covers[1].mrn, "progress_notes", 10),
        ("indexed", covers[2].mrn, "lab_results", 8)]

    for index, (doc, cover) in enumerate(zip(documents, covers, strict=True)):
        word = distinct_word(texts[index], [t for i, t in enumerate(texts) if i != index])
        found = run_cli("search", word, "--mrn", cover.mrn, "--json", env=cv_env)
        assert found.returncode == 0, found.stderr
        hits = json.loads(found.stdout)["hits"]
        assert [h["document_id"] for h in hits] == [doc["id"]], (word, hits)
        elsewhere = run_cli("search", word, "--mrn", covers[index - 1].mrn, "--json",
                            env=cv_env)
        assert json.loads(elsewhere.stdout)["total"] == 0

    status = run_cli("status", report["batch_id"], "--json", env=cv_env)
    view = json.loads(status.stdout)
    assert view["files"][0]["status"] == "split" and view["files"][0]["pages"] == 30
    assert view["counts"].get("indexed") == 3
