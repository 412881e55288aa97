"""What the other packages (web, CLI, tasks) call: the records lifecycle in one place.

Every function takes the :class:`~chartvault.settings.Settings` first and the
acting user by keyword; each action is an audit event. Errors are the
ChartvaultError family: BadInput (422), NotFound (404), PolicyRefusal (409:
two-person rule, hold, not confirmed), PermissionDenied (403: wrong role).

Policy
    policy_view(settings) -> dict                       # read-only page
    policy_history(settings) -> list[dict]              # every version used, with its text
Holds
    list_holds(settings, include_released=True) -> list[HoldView]
    get_hold(settings, hold_id) -> HoldView
    covered_ids(settings, hold_id) -> list[str]          # what a hold covers
    place_hold(settings, actor=, case_id=, reason=, mrns=(), document_ids=(), query=None)
    release_hold(settings, hold_id, actor=, reason=) -> HoldView
Destruction
    due_documents(settings) -> list[DueDocument]         # dry run
    propose(settings, actor=) -> DestructionView | None
    list_destructions(settings, status=None) -> list[DestructionView]  # without items
    get_destruction(settings, destruction_id) -> DestructionView        # with items
    approve(settings, destruction_id, user=, role=None) -> DestructionView
        # 1st call approves (records_manager), 2nd confirms (another records_manager/admin)
    cancel(settings, destruction_id, user=, reason=) -> DestructionView
    execute(settings, destruction_id, actor=) -> DestructionView
    certificate_bytes(settings, destruction_id, "pdf" | "json", actor=) -> bytes
Retention dates
    apply_retention(settings, document_id) -> date | None
    record_encounter(settings, mrn, day, actor=) / correct_date_of_birth(...)
"""

from __future__ import annotations

from typing import Any

from chartvault.policy import PERMANENT, load_policy, policy_path
from chartvault.settings import Settings
from retention.apply import (
    apply_retention,
    correct_date_of_birth,
    reapply_stale,
    recompute_all,
    recompute_patient,
    record_encounter,
)
from retention.certificate import certificate_bytes
from retention.destruction import (
    DestructionView,
    DueDocument,
    ItemView,
    approve,
    cancel,
    due_documents,
    execute,
    get_destruction,
    list_destructions,
    propose,
)
from retention.holds import (
    HoldView,
    covered_ids,
    get_hold,
    list_holds,
    place_hold,
    release_hold,
)


def policy_view(settings: Settings) -> dict[str, Any]:
    """The active policy for display: name, version, file, classes, document types, text."""
    policy = load_policy(settings)
    return {
        "name": policy.name, "version": policy.version, "path": str(policy_path(settings)),
        "majority_age": policy.majority_age, "default_class": policy.default_class,
        "minors": {"trigger": policy.minors.trigger, "years": policy.minors.years,
                   "source": policy.minors.source},
        "classes": [{"name": r.name, "trigger": r.trigger,
                     "years": "permanent" if r.permanent else r.years, "source": r.source}
                    for r in policy.classes.values()],
        "document_types": dict(sorted(policy.document_types.items())),
        "text": policy.text,
    }


def policy_history(settings: Settings) -> list[dict[str, Any]]:
    """Every policy version that has set a date or a list, newest first, with its text."""
    from sqlalchemy import select

    from chartvault.db import session_scope
    from retention.models import PolicyVersion

    with session_scope(settings) as session:
        rows = session.scalars(select(PolicyVersion).order_by(PolicyVersion.first_seen.desc()))
        return [{"version": r.version, "name": r.name, "first_seen": r.first_seen,
                 "text": r.text} for r in rows]


__all__ = [
    "PERMANENT", "DestructionView", "DueDocument", "HoldView", "ItemView", "apply_retention",
    "approve", "cancel", "certificate_bytes", "correct_date_of_birth", "covered_ids",
    "due_documents", "execute", "get_destruction", "get_hold", "list_destructions",
    "list_holds", "place_hold", "policy_history", "policy_view", "propose", "reapply_stale",
    "recompute_all", "recompute_patient", "record_encounter", "release_hold",
]
