"""The bad-input corpus in ONE batch with good files, through a real worker: every
bad file quarantined with a clear reason, nothing crashes, the good files all
archived, indexed and searchable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ingest_corpus import GOOD_MRNS, make_corpus, uploads
from tests.support.ingest_stacks import enqueue_elsewhere

pytestmark = pytest.mark.slow


def test_bad_corpus_and_good_files_in_one_batch(settings, tmp_path: Path) -> None:  # noqa: ANN001
    from archive import open_store
    from chartvault.cli.documents import wait_for, worker_if_embedded
    from ingest.interface import IncomingFile, IntakeOptions
    from ingest.quarantine import list_entries
    from ingest.service import ingest_files
    from search import SearchQuery, open_index

    items = make_corpus(tmp_path / "corpus")
    files = [IncomingFile(path, name) for path, name in uploads(items)]
    queued: list[str] = []
    result = ingest_files(settings, open_store(settings), files,
                          IntakeOptions(actor="test", source="web"), queued.append)
    with worker_if_embedded(settings, True) as worker:
        enqueue_elsewhere("ocr.tasks.enqueue_document", queued)
        final = wait_for(settings, result.queued_ids, 240, False, worker)
    assert len(result.queued_ids) == 3
    assert set(final.values()) == {"indexed"}, final

    entries = list_entries(settings, result.batch_id)
    expected = sorted(i.expect for i in items
                      if i.expect not in ("queued", "duplicate", "manifest"))
    assert len(expected) >= 20
    assert sorted(e["code"] for e in entries) == expected
    for entry in entries:  # a reason a clerk can act on, never a traceback
        assert len(entry["reason"]) > 15 and "Traceback" not in entry["reason"]

    index = open_index(settings)
    good = [o for o in result.outcomes if o.status == "queued"]
    assert {o.mrn for o in good} == set(GOOD_MRNS)
    for outcome in good:
        hits = index.search(SearchQuery(text="patient", mrn=outcome.mrn, limit=10)).hits
        assert outcome.document_id in {h.document_id for h in hits}, outcome
