"""Where a redirect may go: a path on this site, nothing else.

Browsers forgive a lot in a ``Location``: they drop tabs and newlines, read a
backslash as a slash and ``//host`` as another site. A target is accepted only
when it is already in the plain form: it starts with one ``/``, holds no
control character, no backslash and no ``//`` at its start (also when
percent-decoded), and has no scheme or host.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]")


def same_origin_path(target: str | None) -> str | None:
    """``target`` if it is a safe same-site path (with its query), else None."""
    if not target or len(target) > 2000:
        return None
    for form in (target, unquote(target)):
        if _CONTROL.search(form) or "\\" in form:
            return None
        if not form.startswith("/") or form.startswith("//"):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
