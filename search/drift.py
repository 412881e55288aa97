"""Does the search index still match the catalog? (``chartvault search-check``, nightly.)

The index is derived data; drift means a lost indexing task (missing pages), or a
destroyed document whose index entries survived (unknown pages: a records
problem, since destruction must remove every copy).
"""

from __future__ import annotations

from dataclasses import dataclass

from search.interface import SearchIndex


@dataclass(frozen=True)
class DriftReport:
    catalog_count: int
    index_count: int
    missing_from_index: tuple[str, ...]  # in the catalog, not searchable (up to ``sample``)
    unknown_in_index: tuple[str, ...]  # searchable, not in the catalog (up to ``sample``)
    missing_count: int = 0  # all of them, even beyond the sample
    unknown_count: int = 0

    @property
    def ok(self) -> bool:
        return self.missing_count == 0 and self.unknown_count == 0


def check_drift(index: SearchIndex, catalog_ids: set[str], sample: int) -> DriftReport:
    """Compare every id; list at most ``sample`` of each kind (sorted, so runs compare).

    Read-only. Raises :class:`SearchUnavailable` if the index cannot be read, and
    ``ValueError`` for a negative ``sample``.
    """
    if sample < 0:
        raise ValueError("sample must be zero or more")
    indexed = index.document_ids()
    missing = catalog_ids - indexed
    unknown = indexed - catalog_ids
    return DriftReport(
        catalog_count=len(catalog_ids),
        index_count=len(indexed),
        missing_from_index=tuple(sorted(missing)[:sample]),
        unknown_in_index=tuple(sorted(unknown)[:sample]),
        missing_count=len(missing),
        unknown_count=len(unknown),
    )
