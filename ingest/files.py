"""Reading an incoming file safely: its display name and its SHA-256."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

# Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) make a name show
# as something else: "invoice\u202efdp.exe" reads as "invoiceexe.pdf".
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\\x00-\\x1f\\x7f/\\\\{BIDI_CONTROLS}]")


def display_name(name: str) -> str:
    """A file name fit to show and store: never a path, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    return name[:200] or "unnamed"


def extension_for(kind: str) -> str:
    return {"pdf": ".pdf", "tiff": ".tif", "png": ".png", "jpeg": ".jpg"}.get(kind, ".bin")


def sha256_of(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """Hex SHA-256 and size, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
