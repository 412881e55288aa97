"""The bad-input corpus in one batch with good files, in process (no OCR here; the
integration test runs the same corpus through a real worker and searches it)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.models import Document, QuarantineEntry
from tests.support.ingest_corpus import make_corpus, uploads


def outcome_for(result, item):  # noqa: ANN001, ANN201
    from ingest.files import display_name

    name = display_name(item.name)
    for o in result.outcomes:
        if item.part is not None:
            if o.page_range == item.part and o.filename.startswith("stack-"):
                return o
        elif o.filename == name and o.page_range is None:
            return o
    raise AssertionError(f"no outcome for {item.name!r}")


def test_every_bad_input_is_quarantined_with_its_reason(intake, tmp_path: Path) -> None:
    items = make_corpus(tmp_path / "corpus")
    bad = [i for i in items if i.expect not in ("queued", "duplicate", "manifest")]
    assert len(bad) >= 20
    result = intake(uploads(items))
    for item in items:
        outcome = outcome_for(result, item)
        if item.expect in ("queued", "duplicate", "manifest"):
            assert outcome.status == item.expect, (item.name, outcome)
        else:
            assert (outcome.status, outcome.code) == ("quarantined", item.expect), \
                (item.name, outcome)
            assert outcome.reason and outcome.quarantine_id
    good = [o for o in result.outcomes if o.status == "queued"]
    assert len(good) == 3 and sorted(intake.queued) == sorted(o.document_id for o in good)
    duplicate = next(o for o in result.outcomes if o.status == "duplicate")
    assert duplicate.duplicate_of == next(o.document_id for o in good
                                          if o.filename == "good-1.pdf")
    with session_scope(intake.settings) as session:
        entries = session.scalars(select(QuarantineEntry)).all()
        assert len(entries) == len(bad)
        assert all(e.reason and e.code for e in entries)
        documents = session.scalars(select(Document)).all()
        assert len(documents) == 3
        assert {d.retention_class for d in documents} == {"health_record"}
