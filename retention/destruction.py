"""The destruction workflow: due list, proposal, two approvals, execution, certificate.

Execution is idempotent and crash-safe: every document's progress is recorded
(``pending`` -> ``deleting`` -> ``destroyed``, or ``skipped`` with a reason),
so a run killed midway resumes where it stopped, and the certificate is
written once, from the catalog, at the end. Holds and dates are checked again
at execution time, in the catalog and in the store, before anything is deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, insert, literal, or_, select
from sqlalchemy.orm import Session

from archive import ObjectLocked, ObjectNotFound, ObjectStore, keys, ledger, open_store
from archive.common import utcnow as store_now
from archive.ledger import Owner, today_utc
from chartvault import audit
from chartvault.db import purge_free_pages, session_scope
from chartvault.errors import NotFound, PermissionDenied, PolicyRefusal
from chartvault.models import Destruction, Document, Page, User, new_id, utcnow
from chartvault.policy import load_policy
from chartvault.settings import Settings
from ingest.artifacts import release_stacks, stacks_holding
from ocr.workspace import purge_working_copies
from retention.apply import (
    IN_FLIGHT,
    is_held,
    reapply_documents,
    reapply_stale,
    remember_policy,
)
from retention.models import DestructionItem, HoldScope

log = logging.getLogger(__name__)

# "partial": executed, but some records wait for a copy to go (a store lock, a scan
# stack); the next execution retries them.
OPEN = ("proposed", "approved", "confirmed", "executing", "partial")
RETRYABLE = ("pending", "deleting", "waiting")
APPROVER_ROLES = ("records_manager",)
CONFIRMER_ROLES = ("records_manager", "admin")


@dataclass(frozen=True)
class DueDocument:
    document_id: str
    mrn: str
    doc_type: str
    service_date: date | None
    page_count: int
    retain_until: date | None
    policy_version: str | None

    def as_dict(self) -> dict:
        return {"id": self.document_id, "mrn": self.mrn, "doc_type": self.doc_type,
                "service_date": self.service_date, "page_count": self.page_count,
                "retain_until": self.retain_until, "policy_version": self.policy_version}


def _due_query(today: date):  # noqa: ANN202
    """Past retain-until, no hold, in no open list. NOT IN lists are built once per
    query (SQLite and PostgreSQL hash them), cheaper than a probe per document."""
    d = Document.__table__.c
    held_mrns = select(HoldScope.value).where(HoldScope.active.is_(True),
                                              HoldScope.kind == "mrn")
    held_docs = select(HoldScope.value).where(HoldScope.active.is_(True),
                                              HoldScope.kind == "document")
    listed = select(DestructionItem.document_id).join(
        Destruction, DestructionItem.destruction_id == Destruction.id).where(
        DestructionItem.status.in_(RETRYABLE), Destruction.status.in_(OPEN))
    # Due when the policy date has passed AND no store lock outlasts it (a lock set
    # before the ledger, or the minimum-retention window): COMPLIANCE cannot be cut.
    return (select(d.id, d.mrn, d.doc_type, d.service_date, d.page_count, d.retain_until,
                   d.policy_version)
            .where(d.hold.is_(False), d.retain_until < today, d.destroyed_at.is_(None),
                   or_(d.locked_until.is_(None), d.locked_until <= today),
                   d.status.not_in((*IN_FLIGHT, "destroyed")), d.mrn.not_in(held_mrns),
                   d.id.not_in(held_docs), d.id.not_in(listed)))


def due_documents(settings: Settings, *, today: date | None = None,
                  session: Session | None = None) -> list[DueDocument]:
    """Documents past their retain-until, under no hold and in no open proposal (dry run)."""
    ordered = _due_query(today or today_utc()).order_by(Document.retain_until)
    if session is not None:
        return [DueDocument(*row) for row in session.execute(ordered).all()]
    with session_scope(settings) as own:
        return [DueDocument(*row) for row in own.execute(ordered).all()]


@dataclass(frozen=True)
class ItemView:
    document_id: str
    mrn: str
    doc_type: str
    service_date: date | None
    page_count: int
    retain_until: date | None
    status: str
    reason: str | None

    def as_dict(self) -> dict:
        return {"id": self.document_id, "mrn": self.mrn, "doc_type": self.doc_type,
                "service_date": self.service_date, "page_count": self.page_count,
                "retain_until": self.retain_until, "status": self.status,
                "reason": self.reason}


@dataclass(frozen=True)
class DestructionView:
    id: str
    status: str
    policy_version: str | None
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    executed_by: str | None
    executed_at: datetime | None
    certificate_key: str | None
    items: tuple[ItemView, ...]

    def as_dict(self) -> dict:
        data = {k: getattr(self, k) for k in (
            "id", "status", "policy_version", "proposed_by", "proposed_at", "approved_by",
            "approved_at", "confirmed_by", "confirmed_at", "executed_by", "executed_at",
            "certificate_key")}
        data["items"] = [item.as_dict() for item in self.items]
        return data


def propose(settings: Settings, *, actor: str = "scheduler", today: date | None = None,
            with_items: bool = True) -> DestructionView | None:
    """Make a proposed destruction list of everything due; None when nothing is due.

    The list is copied inside the database (INSERT ... SELECT over the due
    query), so a night with hundreds of thousands of due documents costs one
    statement; ``with_items=False`` skips reading them back.
    """
    # Every document is first evaluated under the policy in force (a missed
    # apply, a policy change): a date is only proposed once that policy set it.
    reapply_stale(settings, actor=actor)
    policy = load_policy(settings)
    destruction_id = new_id()
    due = _due_query(today or today_utc()).subquery()
    columns = ("document_id", "mrn", "doc_type", "service_date", "page_count",
               "retain_until", "policy_version")
    copy = insert(DestructionItem.__table__).from_select(
        ("destruction_id", "status", *columns),
        select(literal(destruction_id), literal("pending"),
               *(due.c[name] for name in ("id", *columns[1:]))))
    with session_scope(settings) as session:
        remember_policy(session, policy)
        session.add(Destruction(id=destruction_id, status="proposed", proposed_by=actor,
                                policy_version=policy.version))
        session.flush()
        count = session.execute(copy).rowcount
        if not count:
            session.rollback()
            return None
        dest = _destruction(session, destruction_id)
        dest.items = {"count": count}
        audit.record(session, actor, "destruction_propose", object_type="destruction",
                     object_id=destruction_id, detail={"documents": count})
        return _dview(session, dest, with_items=with_items)


def _role(session: Session, user: str) -> str:
    account = session.scalar(select(User).where(User.name == user))
    if account is None or account.disabled:
        raise PermissionDenied(f"no active user named {user!r}", code="unknown_user")
    return account.role


def approve(settings: Settings, destruction_id: str, *, user: str,
            role: str | None = None) -> DestructionView:
    """First call: a records manager approves. Second: a DIFFERENT records manager or
    admin confirms. ``role`` is the caller's role when the caller has checked it (web);
    else it is read from the user table. PolicyRefusal for the same user twice or a
    list that is not awaiting approval; PermissionDenied for the wrong role.
    """
    with session_scope(settings) as session:
        dest = _destruction(session, destruction_id, lock=True)
        role = role or _role(session, user)
        if dest.status == "proposed":
            if role not in APPROVER_ROLES:
                raise PermissionDenied("approving a destruction needs a records manager",
                                       code="role_required")
            dest.status, dest.approved_by, dest.approved_at = "approved", user, utcnow()
            action = "destruction_approve"
        elif dest.status == "approved":
            if user == dest.approved_by:
                raise PolicyRefusal(
                    f"{user} already approved destruction {destruction_id}; a second, "
                    "different records manager or admin must confirm it (two-person rule)",
                    code="two_person_rule")
            if role not in CONFIRMER_ROLES:
                raise PermissionDenied("confirming a destruction needs a records manager or "
                                       "an admin", code="role_required")
            dest.status, dest.confirmed_by, dest.confirmed_at = "confirmed", user, utcnow()
            action = "destruction_confirm"
        else:
            raise PolicyRefusal(f"destruction {destruction_id} is {dest.status}, not awaiting "
                                "approval", code="not_awaiting_approval")
        audit.record(session, user, action, object_type="destruction",
                     object_id=destruction_id, detail={"role": role})
    return get_destruction(settings, destruction_id)


def cancel(settings: Settings, destruction_id: str, *, user: str, reason: str,
           role: str | None = None) -> DestructionView:
    """Withdraw a list before execution starts (a records manager or an admin)."""
    with session_scope(settings) as session:
        dest = _destruction(session, destruction_id, lock=True)
        if (role or _role(session, user)) not in CONFIRMER_ROLES:
            raise PermissionDenied("cancelling a destruction needs a records manager or an "
                                   "admin", code="role_required")
        if dest.status not in ("proposed", "approved", "confirmed"):
            raise PolicyRefusal(f"destruction {destruction_id} is {dest.status}; only a list "
                                "not yet executing can be cancelled", code="not_cancellable")
        dest.status = "cancelled"
        audit.record(session, user, "destruction_cancel", object_type="destruction",
                     object_id=destruction_id, detail={"reason": reason})
    return get_destruction(settings, destruction_id)


def execute(settings: Settings, destruction_id: str, *, actor: str,
            store: ObjectStore | None = None, index=None) -> DestructionView:  # noqa: ANN001
    """Destroy every document of a confirmed list that is still due; write the certificate.

    Idempotent: re-running a finished execution changes nothing; re-running an
    interrupted one resumes it; re-running a ``partial`` one retries the records that
    waited for a copy to go. PolicyRefusal before two approvals.
    """
    store = store or open_store(settings)
    with session_scope(settings) as session:
        dest = _destruction(session, destruction_id, lock=True)
        if dest.status == "executed":
            return get_destruction(settings, destruction_id)
        if dest.status not in ("confirmed", "executing", "partial"):
            raise PolicyRefusal(
                f"destruction {destruction_id} is {dest.status}: it needs approval by a "
                "records manager and confirmation by a different records manager or admin "
                "before it can be executed", code="not_confirmed")
        if dest.status in ("confirmed", "partial"):
            dest.status, dest.executed_by = "executing", dest.executed_by or actor
            audit.record(session, actor, "destruction_start", object_type="destruction",
                         object_id=destruction_id, detail={})
        items = list(session.scalars(select(DestructionItem.id).where(
            DestructionItem.destruction_id == destruction_id,
            DestructionItem.status.in_(RETRYABLE)).order_by(DestructionItem.id)))
    if items:
        with session_scope(settings) as session:
            listed = list(session.scalars(select(DestructionItem.document_id).where(
                DestructionItem.destruction_id == destruction_id,
                DestructionItem.status.in_(("pending", "waiting")))))
        reapply_documents(settings, listed, store=store, actor=actor)  # dates may have grown
        release_stacks(settings, store, actor=actor)  # scan stacks intake is done with
        with session_scope(settings) as session:  # once, not once per listed record
            stacks = stacks_holding(session, listed)
        index = index or _open_index(settings)
        try:
            deleted = [item_id for item_id in items
                       if destroy_item(settings, store, index, item_id, actor,
                                       stacks=stacks) == "deleted"]
            # A record is destroyed once its text is out of the index's and the catalog's
            # files too: an outage here leaves the items "deleting", resumed next time.
            _expunge(index)
        finally:
            index.close()
        purge_free_pages(settings)
        _mark_destroyed(settings, deleted, actor)
    from retention.certificate import write_certificate

    write_certificate(settings, store, destruction_id)
    _anchor(settings, store, actor)
    return get_destruction(settings, destruction_id)


def _expunge(index) -> None:  # noqa: ANN001
    """Deleted entries leave the index's files too, not only its answers."""
    index.expunge_deleted()


def _anchor(settings: Settings, store: ObjectStore, actor: str) -> None:
    """Bind the destruction's audit events with an anchor now, not at the next hour.
    The destruction is done whatever happens here: a store outage leaves it to the
    hourly anchor (logged)."""
    from chartvault.audit_tasks import write_anchor
    from chartvault.errors import Unavailable

    try:
        write_anchor(settings, store, actor=actor)
    except Unavailable as exc:
        log.warning("audit anchor after destruction failed; the hourly one will bind it",
                    extra={"error": exc.message})


def _open_index(settings: Settings):  # noqa: ANN202
    from search import open_index

    return open_index(settings)


def _refusal(session: Session, doc: Document | None, today: date) -> str | None:
    """Why the record is no longer due (it leaves the list), or None."""
    if doc is None:
        return "document no longer in the catalog"
    if doc.destroyed_at is not None:
        return "already destroyed"
    if doc.hold or is_held(session, doc):
        return "under legal hold"
    if doc.retain_until is None or doc.retain_until >= today:
        return f"retained until {doc.retain_until}"
    if doc.status in IN_FLIGHT:
        return f"document is being processed ({doc.status})"
    return None


def _waiting(session: Session, store: ObjectStore, document_id: str, today: date,
             stacks: dict | None = None) -> str | None:
    """What still keeps a copy that cannot be deleted today (a store lock or hold, a scan
    stack intake still needs): the record waits on the list for the next execution."""
    for row in ledger.objects_of(session, Owner.document(document_id)):
        if (why := ledger.blocker(row, today=today)):
            return why
    if stacks is None:
        stacks = stacks_holding(session, [document_id])
    holding = stacks.get(document_id)
    if holding is not None:
        return (f"the scan stack {holding.key} still holds its pages "
                f"({holding.waiting_for or 'its lock has not ended'})")
    now = store_now()
    for info in store.list_versions(keys.document_prefix(document_id)):
        if info.legal_hold:
            return f"the store holds {info.key} under legal hold"
        if info.retain_until is not None and info.retain_until > now:
            return f"the store locks {info.key} until {info.retain_until.date()}"
    return None


def destroy_item(settings: Settings, store: ObjectStore, index, item_id: int,  # noqa: ANN001
                 actor: str, *, stacks: dict | None = None) -> str:
    """Delete every copy of one listed document (``"deleted"``: the item stays
    ``deleting`` until :func:`_mark_destroyed`, after the index and catalog files are
    purged), or skip it (no longer due) or let it wait (a copy cannot go yet), with the
    reason; returns the item's status. Idempotent: a ``deleting`` item is deleted again.
    ``stacks``: the scan stacks holding listed records, found once per execution."""
    with session_scope(settings) as session:
        item = session.get(DestructionItem, item_id)
        if item.status in ("destroyed", "skipped"):
            return item.status
        document_id = item.document_id
        if item.status in ("pending", "waiting"):
            doc = session.get(Document, document_id)
            today = today_utc()
            if (reason := _refusal(session, doc, today)):
                item.status, item.reason, item.done_at = "skipped", reason, utcnow()
                audit.record(session, actor, "destruction_skip", object_type="document",
                             object_id=document_id, mrn=item.mrn,
                             detail={"destruction": item.destruction_id, "reason": reason})
                return "skipped"
            if (reason := _waiting(session, store, document_id, today, stacks)):
                if item.status != "waiting" or item.reason != reason:
                    audit.record(session, actor, "destruction_wait", object_type="document",
                                 object_id=document_id, mrn=item.mrn,
                                 detail={"destruction": item.destruction_id, "reason": reason})
                item.status, item.reason = "waiting", reason
                return "waiting"
            # From here on the document is being destroyed: a resumed run finishes it.
            item.status, item.reason = "deleting", None
    try:
        gone = _delete_everything(settings, store, index, document_id)
    except ObjectLocked as exc:
        with session_scope(settings) as session:
            item = session.get(DestructionItem, item_id)
            item.status = "waiting"
            item.reason = f"the store refused deletion: {exc.message}"
        return "waiting"
    with session_scope(settings) as session:
        item = session.get(DestructionItem, item_id)
        _tombstone(session, document_id)
        # every version the ledger saw deleted (a run killed midway deleted some of them)
        unrecorded = [o for o in (item.objects or []) if o.get("kind") == "unrecorded"]
        item.objects = [*ledger.deleted_of(session, Owner.document(document_id)),
                        *unrecorded, *gone]
    return "deleted"


def _mark_destroyed(settings: Settings, item_ids: list[int], actor: str) -> None:
    """The deleted records are destroyed now that no file holds their text."""
    with session_scope(settings) as session:
        for item_id in item_ids:
            item = session.get(DestructionItem, item_id)
            if item.status != "deleting":
                continue
            item.status, item.done_at = "destroyed", utcnow()
            audit.record(session, actor, "destroy", object_type="document",
                         object_id=item.document_id, mrn=item.mrn,
                         detail={"destruction": item.destruction_id, "pages": item.page_count,
                                 "objects": len(item.objects or [])})


def _delete_everything(settings: Settings, store: ObjectStore, index,  # noqa: ANN001
                       document_id: str) -> list[dict]:
    """Delete every version the ledger records for the document, then any version the
    store still has under its prefix (written but never recorded: a crash between the
    two); its index entries go too. Returns the unrecorded versions deleted."""
    gone: list[dict] = []
    with session_scope(settings) as session:
        for row in ledger.objects_of(session, Owner.document(document_id)):
            ledger.delete(store, row)
            session.commit()  # each deletion recorded as it happens
    for info in list(store.list_versions(keys.document_prefix(document_id))):
        try:
            store.delete_version(info.key, info.version_id)
        except ObjectNotFound:
            continue
        gone.append({"key": info.key, "version": info.version_id, "sha256": info.sha256,
                     "kind": "unrecorded"})
    index.delete(document_id)
    purge_working_copies(settings, document_id)  # what a killed OCR task left behind
    return gone


def _tombstone(session: Session, document_id: str) -> None:
    """Keep only what the certificate needs: the row, scrubbed; pages go, and the ledger
    rows stay as the record of each version deleted."""
    session.execute(delete(Page).where(Page.document_id == document_id))
    doc = session.get(Document, document_id)
    if doc is None:
        return
    doc.status, doc.destroyed_at = "destroyed", utcnow()
    doc.filename, doc.original_key, doc.original_version = "", "", ""
    doc.sha256, doc.size, doc.pdf_key, doc.error = "", 0, None, None
    doc.mean_confidence, doc.needs_review, doc.locked_until = None, False, None


def _destruction(session: Session, destruction_id: str, *, lock: bool = False) -> Destruction:
    query = select(Destruction).where(Destruction.id == destruction_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    dest = session.scalar(query)
    if dest is None:
        raise NotFound(f"no destruction {destruction_id}", code="destruction_not_found")
    return dest


def _items(session: Session, destruction_id: str) -> tuple[ItemView, ...]:
    t = DestructionItem
    rows = session.execute(select(
        t.document_id, t.mrn, t.doc_type, t.service_date, t.page_count, t.retain_until,
        t.status, t.reason).where(t.destruction_id == destruction_id).order_by(t.id)).all()
    return tuple(ItemView(*row) for row in rows)


def _dview(session: Session, dest: Destruction, with_items: bool = True) -> DestructionView:
    return DestructionView(
        id=dest.id, status=dest.status, policy_version=dest.policy_version,
        proposed_by=dest.proposed_by, proposed_at=dest.proposed_at,
        approved_by=dest.approved_by, approved_at=dest.approved_at,
        confirmed_by=dest.confirmed_by, confirmed_at=dest.confirmed_at,
        executed_by=dest.executed_by, executed_at=dest.executed_at,
        certificate_key=dest.certificate_key,
        items=_items(session, dest.id) if with_items else ())


def get_destruction(settings: Settings, destruction_id: str) -> DestructionView:
    with session_scope(settings) as session:
        return _dview(session, _destruction(session, destruction_id))


def list_destructions(settings: Settings, *, status: str | None = None
                      ) -> list[DestructionView]:
    """Every destruction list, newest first (items left out: ask get_destruction)."""
    with session_scope(settings) as session:
        query = select(Destruction).order_by(Destruction.proposed_at.desc())
        if status:
            query = query.where(Destruction.status == status)
        return [_dview(session, d, with_items=False) for d in session.scalars(query)]
