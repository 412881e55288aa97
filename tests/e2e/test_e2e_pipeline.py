"""The whole path through real parts: CLI -> store -> catalog -> Celery worker ->
Tesseract -> index -> search, on the embedded defaults and on PostgreSQL + Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from chartvault.synthetic import ChartSpec, make_chart

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "chartvault"]


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def unique_word(texts: tuple[str, ...], index: int) -> str:
    """A longish word on page ``index`` and on no other page."""
    def words(text: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Za-z]{7,}", text)}

    others = set().union(*(words(t) for i, t in enumerate(texts) if i != index))
    candidates = sorted(words(texts[index]) - others)
    assert candidates, "the generator should put distinct words on each page"
    return candidates[0]


def make_three_page_chart(folder: Path):  # noqa: ANN201
    spec = ChartSpec(mrn="TST000123", patient_name="TESTPATIENT, Alice Q.",
                     date_of_birth=date(1970, 1, 2), doc_type="progress_notes",
                     service_date=date(2024, 5, 6), facility="Chartvault Test General",
                     pages=3, seed=11)
    return make_chart(spec, folder / "chart.pdf", fmt="pdf", dpi=200)


def ingest_and_search(tmp_path: Path, env: dict[str, str]) -> None:
    chart = make_three_page_chart(tmp_path)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without end")
    done = run_cli("ingest", str(chart.path), str(empty), str(corrupt), "--mrn", "TST000123",
                   "--type", "progress_notes", "--wait", "--json", env=env)
    assert done.returncode == 1, done.stderr  # the two bad files were not indexed
    report = json.loads(done.stdout)
    by_name = {d["filename"]: d for d in report["documents"]}
    good = by_name["chart.pdf"]
    assert good["status"] == "indexed", good
    assert good["pages"] == 3 and len(good["sha256"]) == 64
    for bad in ("empty.pdf", "corrupt.pdf"):
        assert by_name[bad]["status"] == "quarantined"
        assert by_name[bad]["reason"], by_name[bad]

    word = unique_word(chart.page_texts, 1)
    found = run_cli("search", word, "--json", env=env)
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["total"] >= 1
    hit = result["hits"][0]
    assert hit["document_id"] == good["id"]
    assert hit["mrn"] == "TST000123"
    assert hit["page"] == 2
    assert word in hit["snippet"].lower()

    shown = run_cli("show", good["id"], "--json", env=env)
    view = json.loads(shown.stdout)
    assert [p["status"] for p in view["page_list"]] == ["done"] * 3

    again = run_cli("ingest", str(chart.path), "--mrn", "TST000123", "--json", env=env)
    duplicate = json.loads(again.stdout)["documents"][0]
    assert duplicate["status"] == "duplicate" and duplicate["duplicate_of"] == good["id"]


def test_embedded_defaults_end_to_end(cv_env: dict[str, str], tmp_path: Path) -> None:
    ingest_and_search(tmp_path, cv_env)
    checks_catch_drift_and_altered_bytes(Path(cv_env["CHARTVAULT_HOME"]), cv_env)


def checks_catch_drift_and_altered_bytes(home: Path, env: dict[str, str]) -> None:
    """search-check sees a document missing from the index; reindex repairs it;
    verify sees one byte flipped in a stored original."""
    assert run_cli("search-check", env=env).returncode == 0
    subprocess.run([sys.executable, "-c", (
        "from chartvault.settings import get_settings; from search import open_index;"
        "i = open_index(get_settings()); [i.delete(d) for d in i.document_ids()]")],
        env={**os.environ, **env}, check=True)
    drift = run_cli("search-check", "--json", env=env)
    assert drift.returncode == 1 and json.loads(drift.stdout)["missing_count"] == 1
    assert run_cli("reindex", env=env).returncode == 0
    assert run_cli("search-check", env=env).returncode == 0

    intact = run_cli("verify", "--json", env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert json.loads(intact.stdout)["checked"] > 3
    original = max((p for p in (home / "objects").rglob("*")
                    if p.is_file() and "original-" in p.name and p.suffix != ".json"),
                   key=lambda p: p.stat().st_size)
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0x01
    original.write_bytes(bytes(data))
    altered = run_cli("verify", "--json", env=env)
    assert altered.returncode == 1
    problems = json.loads(altered.stdout)["problems"]
    assert [p["kind"] for p in problems] == ["altered"]
    assert "original-" in problems[0]["key"]


@pytest.mark.integration
def test_postgres_and_redis_end_to_end(cv_env: dict[str, str], tmp_path: Path,
                                       postgres_url: str, redis_url: str) -> None:
    env = {**cv_env, "CHARTVAULT_DATABASE_URL": postgres_url,
           "CHARTVAULT_BROKER_URL": redis_url}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([*CLI, "worker", "--concurrency", "2", "--loglevel", "WARNING"],
                              env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        ingest_and_search(tmp_path, env)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()


def test_every_input_format_end_to_end(cv_env: dict[str, str], tmp_path: Path) -> None:
    """Multi-page TIFF, PNG and JPEG go the same way as PDF."""
    base = dict(patient_name="TESTPATIENT, Dora", date_of_birth=date(1990, 9, 9),
                doc_type="consent", service_date=date(2022, 2, 2), paragraphs=1)
    charts = [make_chart(ChartSpec(mrn="TST000456", pages=pages, seed=seed, **base),
                         tmp_path / f"chart.{fmt}", fmt=fmt, dpi=200)
              for fmt, pages, seed in (("tiff", 2, 21), ("png", 1, 22), ("jpeg", 1, 23))]
    done = run_cli("ingest", *(str(c.path) for c in charts), "--mrn", "TST000456", "--wait",
                   "--json", env=cv_env)
    assert done.returncode == 0, done.stdout + done.stderr
    documents = {d["filename"]: d for d in json.loads(done.stdout)["documents"]}
    assert {name: (d["status"], d["pages"]) for name, d in documents.items()} == {
        "chart.tiff": ("indexed", 2), "chart.png": ("indexed", 1), "chart.jpeg": ("indexed", 1)}
    word = unique_word(charts[0].page_texts, 1)
    hits = json.loads(run_cli("search", word, "--json", env=cv_env).stdout)["hits"]
    assert (hits[0]["document_id"], hits[0]["page"]) == (documents["chart.tiff"]["id"], 2)


def test_demo_ingests_synthetic_charts_and_finds_a_word(cv_env: dict[str, str]) -> None:
    """The README's first command, without the web server at the end."""
    done = run_cli("demo", "--no-serve", "--json", env=cv_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["documents"]) == 3 and report["already_archived"] == 0
    assert report["total"] >= 1 and "[metformin]" in report["hits"][0]["snippet"].lower()

    # Run again (the README's command, twice): the same charts are duplicates, not copies.
    again = run_cli("demo", "--no-serve", "--json", env=cv_env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert sorted(second["documents"]) == sorted(report["documents"])
    assert second["already_archived"] == 3 and second["total"] == report["total"]
