"""Fixity: re-read stored objects and prove they still hash as catalogued.

The caller (``chartvault verify``, the nightly beat task) passes what the
catalog expects; :func:`verify` reads every object (or a random sample) back
through the store, re-hashes it and reports what is missing or altered. It
never raises for a bad object; it raises only for bad arguments.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from archive.common import utcnow
from archive.interface import IntegrityMismatch, ObjectNotFound, ObjectStore
from chartvault.errors import BadInput, ChartvaultError

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExpectedObject:
    """One version as the catalog knows it."""

    key: str
    version_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FixityProblem:
    key: str
    version_id: str
    kind: str  # "missing" | "altered" | "unreadable"
    detail: str


@dataclass(frozen=True)
class FixityReport:
    started_at: datetime
    finished_at: datetime
    checked: int
    bytes_read: int
    missing: tuple[FixityProblem, ...] = field(default=())
    altered: tuple[FixityProblem, ...] = field(default=())
    unreadable: tuple[FixityProblem, ...] = field(default=())  # store unavailable: retry later

    @property
    def ok(self) -> bool:
        """True when every checked object is present and unaltered."""
        return not (self.missing or self.altered or self.unreadable)

    @property
    def problems(self) -> tuple[FixityProblem, ...]:
        return self.missing + self.altered + self.unreadable


def _sample(items: Iterable[ExpectedObject], size: int | None,
            rng: random.Random) -> Iterator[ExpectedObject]:
    """All items, or a uniform random sample of ``size`` (reservoir: one pass, O(size))."""
    if size is None:
        yield from items
        return
    if size < 0:
        raise BadInput(f"fixity sample size must be >= 0, got {size}")
    reservoir: list[ExpectedObject] = []
    for seen, item in enumerate(items):
        if seen < size:
            reservoir.append(item)
        else:
            slot = rng.randrange(seen + 1)
            if slot < size:
                reservoir[slot] = item
    yield from reservoir


def check_one(store: ObjectStore, item: ExpectedObject) -> tuple[FixityProblem | None, int]:
    """Re-read one version; the problem found (or None) and the bytes read."""

    def problem(kind: str, detail: str) -> FixityProblem:
        return FixityProblem(item.key, item.version_id, kind, detail)

    digest, size = hashlib.sha256(), 0
    try:
        info = store.stat(item.key, item.version_id)
        if info.size != item.size or (info.sha256 and info.sha256 != item.sha256.lower()):
            return problem("altered", f"store says size {info.size} sha256 {info.sha256}, "
                           f"catalog says size {item.size} sha256 {item.sha256}"), 0
        with store.get(item.key, item.version_id) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except ObjectNotFound as exc:
        return problem("missing", exc.message), size
    except IntegrityMismatch as exc:
        return problem("altered", exc.message), size
    except ChartvaultError as exc:
        return problem("unreadable", f"{exc.code}: {exc.message}"), size
    if size != item.size or digest.hexdigest() != item.sha256.lower():
        return problem("altered", f"re-read {size} bytes hashing to {digest.hexdigest()}, "
                       f"catalog says {item.size} bytes {item.sha256}"), size
    return None, size


def verify(store: ObjectStore, expected: Iterable[ExpectedObject], sample: int | None = None,
           *, rng: random.Random | None = None) -> FixityReport:
    """Check every expected object (or a random ``sample`` of them) and report.

    Read-only and safe to run at any time, also concurrently with ingest.
    """
    started = utcnow()
    rng = rng or random.SystemRandom()
    found: dict[str, list[FixityProblem]] = {"missing": [], "altered": [], "unreadable": []}
    checked = bytes_read = 0
    for item in _sample(expected, sample, rng):
        problem, read = check_one(store, item)
        checked += 1
        bytes_read += read
        if problem is not None:
            found[problem.kind].append(problem)
    if sample is None:  # a full check: also what the catalog does not list (anchors...)
        reported = {(p.key, p.version_id) for p in found["altered"]}
        for key, version_id, why in getattr(store, "metadata_problems", lambda: ())():
            if (key, version_id) not in reported:
                found["altered"].append(FixityProblem(key, version_id, "altered", why))
    return FixityReport(
        started_at=started, finished_at=utcnow(), checked=checked, bytes_read=bytes_read,
        missing=tuple(found["missing"]), altered=tuple(found["altered"]),
        unreadable=tuple(found["unreadable"]),
    )
