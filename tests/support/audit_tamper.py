"""What someone with database access would do to the audit trail: edit a row, then
re-hash the chain after it so that the chain alone still verifies."""

from __future__ import annotations

from sqlalchemy import select, update

from chartvault import audit
from chartvault.db import session_scope
from chartvault.models import AuditEvent, AuditHead


def rehash_from(settings, seq: int, **changes: object) -> None:  # noqa: ANN001
    with session_scope(settings) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = audit.GENESIS
        for event in events:
            if event.seq == seq:
                for name, value in changes.items():
                    setattr(event, name, value)
            event.prev_hash = prev
            event.hash = audit.event_hash(prev, event.seq, audit._aware(event.at), event.actor,
                                          event.action, event.object_type, event.object_id,
                                          event.mrn, event.client, dict(event.detail or {}))
            prev = event.hash
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
