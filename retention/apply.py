"""Applying retain-until dates and legal holds to the catalog and the store.

Everything here is idempotent and only ever extends retention: run it again,
after a crash or with the same facts, and nothing changes. Store calls come
before the catalog commit, so a failure leaves the catalog saying no more than
the store enforces and the next run repairs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive import ObjectStore, ledger, open_store
from archive.ledger import Owner
from chartvault import audit
from chartvault.db import session_scope
from chartvault.models import Document, Patient
from chartvault.policy import Decision, Facts, Policy, decide, extended, load_policy
from chartvault.settings import Settings
from retention.models import HoldScope, PolicyVersion

log = logging.getLogger(__name__)

IN_FLIGHT = ("received", "ocr", "finishing")


def held_ids(session: Session, documents: Iterable[Document]) -> set[str]:
    """The ids among ``documents`` that an active hold covers (by MRN or by id)."""
    docs = list(documents)
    if not docs:
        return set()
    mrns = {d.mrn for d in docs}
    ids = {d.id for d in docs}
    rows = session.execute(select(HoldScope.kind, HoldScope.value).where(
        HoldScope.active.is_(True),
        or_((HoldScope.kind == "mrn") & HoldScope.value.in_(mrns),
            (HoldScope.kind == "document") & HoldScope.value.in_(ids)))).all()
    held_mrns = {v for k, v in rows if k == "mrn"}
    held_docs = {v for k, v in rows if k == "document"}
    return {d.id for d in docs if d.mrn in held_mrns or d.id in held_docs}


def is_held(session: Session, document: Document) -> bool:
    return document.id in held_ids(session, [document])


def apply_retention(settings: Settings, document_id: str, *, store: ObjectStore | None = None,
                    actor: str = "system", policy: Policy | None = None) -> date | None:
    """Compute and apply the policy date of a document and of its patient's other documents.

    A new document can be a new encounter that extends the patient's other
    documents, so the whole patient is recomputed. Holds covering the patient or
    the document are applied too (a hold placed earlier covers documents
    ingested later). Returns the document's retain-until (None if unknown).
    """
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        if doc is None or doc.destroyed_at is not None:
            return None
        mrn = doc.mrn
    recompute_patient(settings, mrn, store=store, actor=actor, policy=policy)
    with session_scope(settings) as session:
        doc = session.get(Document, document_id)
        return doc.retain_until if doc else None


def remember_policy(session: Session, policy: Policy) -> None:
    """Keep the text of every policy version in use (idempotent)."""
    if session.get(PolicyVersion, policy.version) is None:
        session.add(PolicyVersion(version=policy.version, name=policy.name[:200],
                                  text=policy.text))
        session.flush()


def recompute_patient(settings: Settings, mrn: str, *, store: ObjectStore | None = None,
                      actor: str = "system", policy: Policy | None = None,
                      recompute: bool = False) -> int:
    """Recompute every live document of one patient; returns how many dates changed.
    ``recompute`` also replaces dates set before the ledger (``legacy``)."""
    policy = policy or load_policy(settings)
    store = store or open_store(settings)
    changed = 0
    with session_scope(settings) as session:
        patient = session.get(Patient, mrn)
        docs = list(session.scalars(select(Document).where(
            Document.mrn == mrn, Document.destroyed_at.is_(None)).order_by(Document.id)))
        if patient is None or not docs:
            return 0
        remember_policy(session, policy)
        seen = [d.service_date for d in docs if d.service_date]
        if patient.last_encounter:
            seen.append(patient.last_encounter)
        if seen and max(seen) != patient.last_encounter:
            patient.last_encounter = max(seen)
        held = held_ids(session, docs)
        for doc in docs:
            changed += _apply_one(session, store, policy, patient, doc, doc.id in held, actor,
                                  recompute)
    return changed


@dataclass(frozen=True)
class LockedLater:
    """A record whose store lock outlasts its policy date (COMPLIANCE cannot be
    shortened): it is due when the lock ends."""

    document_id: str
    mrn: str
    retain_until: date | None
    objects: tuple[tuple[str, str, date], ...]  # (key, version, locked until)

    def as_dict(self) -> dict:
        return {"document_id": self.document_id, "mrn": self.mrn,
                "retain_until": self.retain_until,
                "locked": [{"key": k, "version": v, "locked_until": d}
                           for k, v, d in self.objects]}


def recompute_all(settings: Settings, *, store: ObjectStore | None = None,
                  actor: str = "system") -> tuple[int, list[LockedLater]]:
    """Give every live record its policy's own date (``legacy`` dates replaced, policy
    dates only extended); never shortens a store lock. Returns how many dates changed
    and the records whose objects stay locked past their new date."""
    policy = load_policy(settings)
    store = store or open_store(settings)
    with session_scope(settings) as session:
        mrns = list(session.scalars(select(Document.mrn).where(
            Document.destroyed_at.is_(None)).distinct().order_by(Document.mrn)))
    changed = sum(recompute_patient(settings, mrn, store=store, actor=actor, policy=policy,
                                    recompute=True) for mrn in mrns)
    later: list[LockedLater] = []
    with session_scope(settings) as session:
        docs = session.execute(select(Document.id, Document.mrn, Document.retain_until).where(
            Document.destroyed_at.is_(None), Document.locked_until.is_not(None),
            or_(Document.retain_until.is_(None),
                Document.locked_until > Document.retain_until)).order_by(Document.id)).all()
        for document_id, mrn, until in docs:
            rows = ledger.objects_of(session, Owner.document(document_id))
            locked = tuple((r.key, r.version_id, r.retain_until) for r in rows
                           if r.retain_until and (until is None or r.retain_until > until))
            if locked:
                later.append(LockedLater(document_id, mrn, until, locked))
        audit.record(session, actor, "retention_recompute", object_type="policy",
                     object_id=policy.version, detail={"changed": changed,
                                                       "locked_later": len(later)})
    return changed, later


def facts_of(doc: Document, patient: Patient) -> Facts:
    return Facts(doc_type=doc.doc_type, retention_class=doc.retention_class,
                 service_date=doc.service_date, last_encounter=patient.last_encounter,
                 date_of_birth=patient.date_of_birth, date_of_death=patient.date_of_death)


def next_date(doc: Document, decision: Decision, *, recompute: bool = False) -> date | None:
    """The document's new retain-until. A policy date only ever extends; the intake
    default (facts incomplete at intake) and, on ``recompute``, a date set before the
    ledger (``legacy``: scan date + 10 years) are replaced by the policy's own date."""
    if decision.retain_until is None:
        return doc.retain_until
    if doc.retention_basis == "intake_default" or (recompute and doc.retention_basis == "legacy"):
        return decision.retain_until
    return extended(doc.retain_until, decision.retain_until)


def _apply_one(session: Session, store: ObjectStore, policy: Policy, patient: Patient,
               doc: Document, held: bool, actor: str, recompute: bool = False) -> int:
    decision = decide(policy, facts_of(doc, patient))
    until = next_date(doc, decision, recompute=recompute)
    sync_objects(session, store, doc, until, held)
    moved = until != doc.retain_until
    if moved:
        audit.record(session, actor, "retention_set", object_type="document",
                     object_id=doc.id, mrn=doc.mrn,
                     detail={"retain_until": until.isoformat() if until else None,
                             "previous": doc.retain_until.isoformat() if doc.retain_until
                             else None, "rule": decision.rule,
                             "basis": doc.retention_basis,
                             "policy_version": policy.version})
    doc.retain_until = until
    doc.retention_class = decision.retention_class
    doc.policy_version = policy.version
    if decision.retain_until is not None:
        doc.retention_basis = "policy"
        doc.retention_rule = decision.rule
        doc.retention_trigger = decision.trigger
        doc.retention_trigger_date = decision.trigger_date
    doc.hold = held
    return int(moved)


def sync_objects(session: Session, store: ObjectStore, doc: Document, until: date | None,
                 held: bool) -> None:
    """Bring every live ledger object of ``doc`` to ``until`` (locks only ever extend;
    a date already past locks nothing) and to the hold flag; ``doc.locked_until`` is
    the latest lock among them afterwards."""
    latest = None
    for obj in ledger.objects_of(session, Owner.document(doc.id)):
        if until is not None:
            ledger.extend_lock(store, obj, until)
        ledger.set_hold(store, obj, held)
        if obj.retain_until and (latest is None or obj.retain_until > latest):
            latest = obj.retain_until
    doc.locked_until = latest


def sync_holds(settings: Settings, document_ids: Iterable[str], *,
               store: ObjectStore | None = None) -> int:
    """Set each document's hold flag (catalog and store) from the active holds.

    Returns the number of documents whose flag changed.
    """
    store = store or open_store(settings)
    ids = sorted(set(document_ids))
    changed = 0
    for start in range(0, len(ids), 200):
        with session_scope(settings) as session:
            docs = list(session.scalars(select(Document).where(
                Document.id.in_(ids[start:start + 200]), Document.destroyed_at.is_(None))))
            held = held_ids(session, docs)
            for doc in docs:
                now_held = doc.id in held
                changed += int(now_held != doc.hold)
                sync_objects(session, store, doc, None, now_held)
                doc.hold = now_held
    return changed


def stale_documents(settings: Settings, policy_version: str, limit: int) -> list[str]:
    """Live documents never evaluated or evaluated under another policy version."""
    with session_scope(settings) as session:
        return list(session.scalars(select(Document.id).where(
            Document.destroyed_at.is_(None), Document.status.not_in(IN_FLIGHT),
            or_(Document.policy_version.is_(None),
                Document.policy_version != policy_version)).limit(limit)))


def reapply_stale(settings: Settings, *, limit: int = 10_000, store: ObjectStore | None = None,
                  actor: str = "scheduler") -> int:
    """Recompute documents the current policy has not evaluated (policy change, missed task)."""
    policy = load_policy(settings)
    store = store or open_store(settings)
    ids = stale_documents(settings, policy.version, limit)
    mrns: list[str] = []
    with session_scope(settings) as session:
        for start in range(0, len(ids), 500):
            mrns += session.scalars(select(Document.mrn).where(
                Document.id.in_(ids[start:start + 500])).distinct())
    for mrn in sorted(set(mrns)):
        recompute_patient(settings, mrn, store=store, actor=actor, policy=policy)
    return len(ids)


def reapply_documents(settings: Settings, document_ids: Iterable[str], *,
                      store: ObjectStore | None = None, actor: str = "system") -> int:
    """Re-evaluate, under the current policy, those of ``document_ids`` it has not seen.

    Returns how many were stale. Used before destroying: a policy change after
    the proposal may have lengthened a period.
    """
    policy = load_policy(settings)
    ids = sorted(set(document_ids))
    mrns: set[str] = set()
    for start in range(0, len(ids), 500):
        with session_scope(settings) as session:
            mrns.update(session.scalars(select(Document.mrn).where(
                Document.id.in_(ids[start:start + 500]), Document.destroyed_at.is_(None),
                or_(Document.policy_version.is_(None),
                    Document.policy_version != policy.version))))
    if mrns and store is None:
        store = open_store(settings)
    for mrn in sorted(mrns):
        recompute_patient(settings, mrn, store=store, actor=actor, policy=policy)
    return len(mrns)


def record_encounter(settings: Settings, mrn: str, day: date, *, actor: str,
                     store: ObjectStore | None = None) -> int:
    """A new encounter for the patient: extends the dates that follow the last encounter."""
    with session_scope(settings) as session:
        patient = _patient(session, mrn)
        if patient.last_encounter is None or day > patient.last_encounter:
            patient.last_encounter = day
        audit.record(session, actor, "patient_encounter", object_type="patient",
                     object_id=mrn, mrn=mrn, detail={})
    return recompute_patient(settings, mrn, store=store, actor=actor)


def correct_date_of_birth(settings: Settings, mrn: str, day: date, *, actor: str,
                          store: ObjectStore | None = None) -> int:
    """A corrected date of birth; dates are recomputed and may only extend."""
    with session_scope(settings) as session:
        patient = _patient(session, mrn)
        patient.date_of_birth = day
        audit.record(session, actor, "patient_correct", object_type="patient",
                     object_id=mrn, mrn=mrn, detail={"field": "date_of_birth"})
    return recompute_patient(settings, mrn, store=store, actor=actor)


def _patient(session: Session, mrn: str) -> Patient:
    from chartvault.errors import NotFound

    patient = session.get(Patient, mrn)
    if patient is None:
        raise NotFound("no patient with that MRN", code="patient_not_found")
    return patient
