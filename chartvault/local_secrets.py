"""Secrets for an embedded install, made once and kept under CHARTVAULT_HOME.

In production both secrets must come from the environment (settings refuses to
start without them); on one machine they are generated on first start and
stored with mode 0600, so encryption at rest is on by default.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from chartvault.files import private_folder


def ensure(home: Path) -> dict[str, str]:
    """Return ``{"secret_key", "storage_key"}``, creating the file atomically if absent."""
    path = home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    private_folder(home, tighten_existing=False)
    values = {
        "secret_key": secrets.token_urlsafe(32),
        "storage_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # fails if another process won the race: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return json.loads(path.read_text(encoding="utf-8"))
