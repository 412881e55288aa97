"""One audit event per user action, not per HTTP request.

A page that shows patient data records one event; the requests its browser then
makes for the same object (the page image and the thumbnails of the document just
opened, the batch page's polling of its status) are part of that action and record
nothing more. The page remembers, in the signed-in session, what it recorded and
when; a request for the same object within :data:`WINDOW` seconds is covered by that
event. Anything else (a token client, another session, later) records its own event.
"""

from __future__ import annotations

import time

from flask import g, session

WINDOW = 600  # seconds a page's event covers its own sub-requests
MAX_SHOWN = 20  # objects remembered per session (newest kept): the cookie stays small
_KEY = "shown"


def _name(kind: str, object_id: str) -> str:
    return f"{kind}:{object_id}"


def remember(kind: str, object_id: str) -> None:
    """The current page recorded its read of this object (a web session only)."""
    if g.get("via") != "session":
        return
    shown = dict(session.get(_KEY) or {})
    shown.pop(_name(kind, object_id), None)
    shown[_name(kind, object_id)] = time.time()
    session[_KEY] = dict(list(shown.items())[-MAX_SHOWN:])


def covered(kind: str, object_id: str) -> bool:
    """Whether a page of this web session recorded a read of this object lately."""
    if g.get("via") != "session":
        return False
    at = (session.get(_KEY) or {}).get(_name(kind, object_id))
    return at is not None and time.time() - at <= WINDOW
