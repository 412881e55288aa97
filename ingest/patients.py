"""Patients: MRN format checks, metadata resolution, registration on first sight."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from chartvault.db import session_scope
from chartvault.errors import BadInput
from chartvault.models import Patient
from chartvault.settings import Settings
from ingest.barcodes import CoverSheet
from ingest.doctypes import DocumentType, DocumentTypes
from ingest.interface import IntakeOptions
from ingest.manifest import ManifestRow


@dataclass(frozen=True)
class Metadata:
    """Everything a document is filed under. PHI: never log it."""

    mrn: str
    doc_type: DocumentType
    service_date: date | None = None
    facility: str = ""
    patient_name: str = ""
    date_of_birth: date | None = None


# how a clerk gives the MRN through each door (IntakeOptions.source): a web user has no
# command line to pass --mrn on
_GIVE_MRN = {
    "web": "release it from quarantine with the patient's MRN, or upload it again with the "
           "MRN field filled in, a manifest or a cover sheet",
    "api": "release it with the patient's MRN, or post it again with the mrn field, a "
           "manifest or a cover sheet",
    "hotfolder": "release it with the patient's MRN, or drop it again with a manifest row or "
                 "a cover sheet",
}
_GIVE_MRN_CLI = ("pass --mrn, a manifest or a cover sheet, or release it with "
                 "`chartvault quarantine release ID --mrn MRN`")


def validate_mrn(mrn: str | None, settings: Settings, source: str = "cli") -> str:
    """The MRN normalised (trimmed, upper case); BadInput if missing or malformed, with
    advice for the door (``source``) the file came through."""
    if not mrn or not mrn.strip():
        raise BadInput(f"no MRN given: {_GIVE_MRN.get(source, _GIVE_MRN_CLI)}",
                       code="missing_mrn")
    value = mrn.strip().upper()
    if not re.fullmatch(settings.mrn_pattern, value):
        shown = value[:40].encode("ascii", "backslashreplace").decode()
        raise BadInput(f"MRN {shown!r} does not match the MRN format {settings.mrn_pattern} "
                       "(CHARTVAULT_MRN_PATTERN)", code="bad_mrn")
    return value


def resolve_metadata(settings: Settings, types: DocumentTypes, options: IntakeOptions,
                     row: ManifestRow | None, cover: CoverSheet | None) -> Metadata:
    """Metadata from the cover sheet, else the manifest row, else the options.

    The patient's identity (MRN, name, date of birth) comes from one source only,
    never mixed. BadInput: missing_mrn, bad_mrn, unknown_doc_type, unknown_patient
    (with CHARTVAULT_REGISTER_PATIENTS=false), patient_mismatch (another date of
    birth on record for this MRN).
    """
    if cover:
        who = (cover.mrn, cover.patient_name, cover.date_of_birth)
    elif row:
        who = (row.mrn, row.patient_name, row.date_of_birth)
    else:
        who = (options.mrn, options.patient_name, options.date_of_birth)
    mrn = validate_mrn(who[0], settings, options.source)
    doc_type = types.resolve(_first(cover and cover.doc_type, row and row.doc_type,
                                    options.doc_type))
    meta = Metadata(
        mrn=mrn, doc_type=doc_type, patient_name=(who[1] or "").strip()[:200],
        date_of_birth=who[2],
        service_date=_first(cover and cover.service_date, row and row.service_date,
                            options.service_date) or None,
        facility=(_first(cover and cover.facility, row and row.facility, options.facility)
                  or "")[:100])
    with session_scope(settings) as session:
        check_patient(session, settings, meta)
    return meta


def _first(*values):  # noqa: ANN001, ANN202
    return next((v for v in values if v), None)


def check_patient(session: Session, settings: Settings, meta: Metadata) -> None:
    patient = session.get(Patient, meta.mrn)
    if patient is None:
        if not settings.register_patients:
            raise BadInput(f"MRN {meta.mrn} is not a known patient and registering patients at "
                           "intake is off (CHARTVAULT_REGISTER_PATIENTS)", code="unknown_patient")
        return
    if meta.date_of_birth and patient.date_of_birth and \
            meta.date_of_birth != patient.date_of_birth:
        raise BadInput(f"MRN {meta.mrn} is on record with another date of birth; check the "
                       "cover sheet or manifest (a wrong MRN files a chart under the wrong "
                       "patient)", code="patient_mismatch")


def register_patient(session: Session, meta: Metadata) -> None:
    """Create the patient on first sight; fill in a name or birth date not yet known."""
    patient = session.get(Patient, meta.mrn)
    if patient is None:
        session.add(Patient(mrn=meta.mrn, name=meta.patient_name,
                            date_of_birth=meta.date_of_birth))
        session.flush()
        return
    if meta.patient_name and not patient.name:
        patient.name = meta.patient_name
    if meta.date_of_birth and not patient.date_of_birth:
        patient.date_of_birth = meta.date_of_birth
