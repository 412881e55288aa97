"""A destruction killed midway (SIGKILL) resumes and ends with ONE certificate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date

from archive import keys
from chartvault.db import session_scope
from retention.certificate import certificate_bytes
from retention.destruction import approve, execute, propose
from retention.models import DestructionItem

# Dies in the middle of the third document: its versions are deleted, its
# catalog row is not yet a tombstone (the worst moment to lose a process). No record
# is reported destroyed before the run's index expunge and catalog purge.
KILLER = textwrap.dedent("""
    import os, signal, sys
    from chartvault.settings import get_settings
    from retention import destruction

    calls = {"n": 0}
    real = destruction._delete_everything

    def dying(settings, store, index, document_id):
        calls["n"] += 1
        gone = real(settings, store, index, document_id)
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return gone

    destruction._delete_everything = dying
    destruction.execute(get_settings(), sys.argv[1], actor="carol")
""")


def test_killed_execution_resumes_with_one_certificate(settings, store, seeder) -> None:  # noqa: ANN001
    ids = [seeder.document(f"TST00040{n}", date(2000, 1, n + 1), retain_until=date(2010, 1, 1))
           for n in range(6)]
    proposal = propose(settings)
    approve(settings, proposal.id, user="alice")
    approve(settings, proposal.id, user="bob")
    killed = subprocess.run([sys.executable, "-c", KILLER, proposal.id], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    with session_scope(settings) as session:
        states = sorted(session.query(DestructionItem.status).filter_by(
            destruction_id=proposal.id).all())
    assert [s for (s,) in states].count("destroyed") == 0
    assert [s for (s,) in states].count("deleting") == 3
    assert list(store.list_versions("certificates/")) == []

    done = execute(settings, proposal.id, actor="carol")
    assert done.status == "executed"
    assert {i.status for i in done.items} == {"destroyed"}
    assert execute(settings, proposal.id, actor="carol").status == "executed"
    for document_id in ids:
        assert list(store.list_versions(keys.document_prefix(document_id))) == []
    certificates = list(store.list_versions("certificates/"))
    assert sorted(c.key for c in certificates) == [
        f"certificates/{proposal.id}.json", f"certificates/{proposal.id}.pdf"]
    cert = json.loads(certificate_bytes(settings, proposal.id, "json", actor="alice"))
    assert sorted(r["document_id"] for r in cert["records"]) == sorted(ids)
    for record in cert["records"]:  # the one killed midway too: every version it had
        assert len(record["objects"]) == 3, record
    assert cert["executed_by"] == "carol"
