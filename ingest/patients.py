"""Patients: MRN format checks."""

from __future__ import annotations

import re

from chartvault.errors import BadInput
from chartvault.settings import Settings


def validate_mrn(mrn: str | None, settings: Settings) -> str:
    """The MRN normalised (trimmed, upper case); BadInput if missing or malformed."""
    if not mrn or not mrn.strip():
        raise BadInput("no MRN given: pass --mrn, a manifest or a cover sheet",
                       code="missing_mrn")
    value = mrn.strip().upper()
    if not re.fullmatch(settings.mrn_pattern, value):
        raise BadInput(f"MRN {value!r} does not match the MRN format {settings.mrn_pattern}",
                       code="bad_mrn")
    return value
