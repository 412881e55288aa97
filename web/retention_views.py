"""The records manager's page: policy, legal holds, destruction proposals, certificates.

This is the frame of the retention issue's page: it reads the policy through
``retention.policy`` when that module is present and the holds, destructions
and certificates from the catalog tables. Placing or releasing holds and
approving destruction are done by the retention service (its CLI for now).
"""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.errors import ChartvaultError, NotFound
from chartvault.models import Destruction, LegalHold
from web.common import record, settings
from web.documents import stream_object
from web.permissions import requires

bp = Blueprint("retention", __name__)


def _policy():  # noqa: ANN202
    """(policy, problem): the loaded policy, or why it could not be shown."""
    try:
        from retention.policy import load_policy

        return load_policy(settings()), None
    except ImportError:
        return None, "the retention policy module is not installed yet"
    except (ChartvaultError, AttributeError) as exc:
        return None, getattr(exc, "message", "the retention policy could not be loaded")


@bp.get("/retention")
@requires("retention")
def index():  # noqa: ANN201
    policy, problem = _policy()
    with session_scope(settings()) as db:
        holds = list(db.scalars(select(LegalHold).order_by(LegalHold.placed_at.desc())
                                .limit(200)))
        destructions = list(db.scalars(select(Destruction).order_by(
            Destruction.proposed_at.desc()).limit(200)))
        record(db, "view", object_type="retention")
    return render_template("retention.html", policy=policy, problem=problem, holds=holds,
                           destructions=destructions)


@bp.get("/retention/certificates/<destruction_id>")
@requires("retention")
def certificate(destruction_id: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        destruction = db.get(Destruction, destruction_id)
        if destruction is None or not destruction.certificate_key:
            raise NotFound(f"no certificate for destruction {destruction_id}",
                           code="no_certificate")
        key = destruction.certificate_key
        record(db, "download", object_type="certificate", object_id=destruction_id)
    return stream_object(key, "application/pdf",
                         download_name=f"certificate-{destruction_id}.pdf")
