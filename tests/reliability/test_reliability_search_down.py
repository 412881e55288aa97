"""The search backend unreachable while OCR finishes: documents wait, retried with
backoff, and appear in search when it is back, with no manual reindex.

The backend is Elasticsearch's API served by the osmem stand-in (the search
suite's fixture); a TCP gate in front of it refuses connections for a while.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from chartvault.synthetic import ChartSpec, make_chart
from tests.support.faults import TcpGate, cli, ingest_json, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def search_gate():  # noqa: ANN201
    from tests.support.osmem import StandInUnavailable, elasticsearch_stand_in

    try:
        with elasticsearch_stand_in() as url:
            gate = TcpGate(int(url.rsplit(":", 1)[1]))
            try:
                yield gate
            finally:
                gate.down()
    except StandInUnavailable as exc:
        pytest.skip(f"no Elasticsearch stand-in here: {exc}")


def test_search_down_while_ocr_finishes(server_env, workers, search_gate, tmp_path,
                                        monkeypatch) -> None:  # noqa: ANN001
    from chartvault.db import session_scope
    from chartvault.models import Document
    from chartvault.settings import get_settings, reset_settings_cache

    env = {**server_env, "CHARTVAULT_SEARCH_BACKEND": "elasticsearch",
           "CHARTVAULT_ELASTICSEARCH_URL": search_gate.url,
           "CHARTVAULT_ELASTICSEARCH_INDEX": f"cv-{uuid.uuid4().hex[:8]}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    settings = get_settings()
    spec = ChartSpec(mrn="TST000999", patient_name="DEMOCASE, Search Q.",
                     date_of_birth=date(1948, 8, 9), doc_type="discharge_summary",
                     service_date=date(2022, 3, 4), pages=2, seed=44, paragraphs=1)
    chart = make_chart(spec, tmp_path / "chart.pdf", fmt="pdf", dpi=150)

    search_gate.down()
    workers(env)
    document_id = ingest_json(chart.path, env, "TST000999")["documents"][0]["id"]

    def status() -> str:
        with session_scope(settings) as session:
            return session.scalar(select(Document.status).where(Document.id == document_id))

    wait_until(lambda: status() == "finishing", 120, "OCR to finish")
    time.sleep(4)  # at least one failed indexing attempt, then a retry with backoff
    assert status() == "finishing", "indexed although the search backend was down"
    down_for = time.monotonic()
    search_gate.up()
    wait_until(lambda: status() == "indexed", 90, "the queued indexing to succeed")
    print(f"\nindexed {time.monotonic() - down_for:.1f} s after the backend came back")

    word = sorted(re.findall(r"[a-z]{9,}", chart.page_texts[1].lower()))[0]
    found = cli("search", word, "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert document_id in [h["document_id"] for h in json.loads(found.stdout)["hits"]]
