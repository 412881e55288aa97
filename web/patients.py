"""A patient's documents on a timeline (newest service date first)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

import access_rules
from chartvault.db import session_scope
from chartvault.errors import NotFound
from chartvault.models import Document, Patient
from web.common import reader, settings
from web.permissions import requires

bp = Blueprint("patients", __name__)


@bp.get("/patients")
@requires("read_charts")
def lookup():  # noqa: ANN201
    mrn = request.args.get("mrn", "").strip().upper()
    if mrn:
        return redirect(url_for("patients.show", mrn=mrn))
    return render_template("patient_lookup.html")


@bp.get("/patients/<mrn>")
@requires("read_charts")
def show(mrn: str):  # noqa: ANN201
    with session_scope(settings()) as db:
        patient = db.get(Patient, mrn)
        if patient is None:
            raise NotFound(f"no patient with MRN {mrn}", code="patient_not_found")
        docs, stubs = access_rules.patient_documents(db, reader(), mrn)
    docs.sort(key=lambda d: (d.service_date or d.created_at.date(), d.created_at),
              reverse=True)
    years: dict[str, list[Document]] = {}
    for doc in docs:
        when = doc.service_date or doc.created_at.date()
        years.setdefault(str(when.year), []).append(doc)
    return render_template("patient.html", patient=patient, years=years, total=len(docs),
                           stubs=stubs)
