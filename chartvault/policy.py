"""Retention policies as data: loading, versioning, and the retain-until rule.

In the kernel because two floors decide with it: intake locks each new record
until its policy date (``ingest``), and ``retention`` keeps the dates current.
Pure code, no I/O beyond reading the policy file. The policy's version is the
SHA-256 of the file's bytes, so any change to the file is a new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from chartvault.errors import ConfigurationError
from chartvault.settings import Settings

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")
TRIGGERS = ("service_date", "discharge_date", "last_encounter", "age_of_majority",
            "date_of_death")
# "Permanent" in the catalog and in the store: the last representable day.
PERMANENT = date(9999, 12, 31)


@dataclass(frozen=True)
class RetentionRule:
    name: str
    trigger: str
    years: int | None  # None = permanent
    source: str = ""

    @property
    def permanent(self) -> bool:
        return self.years is None


@dataclass(frozen=True)
class Policy:
    name: str
    version: str  # SHA-256 of the policy file's bytes
    path: str
    text: str
    majority_age: int
    minors: RetentionRule
    default_class: str
    classes: dict[str, RetentionRule]
    document_types: dict[str, str]

    def class_for(self, doc_type: str, retention_class: str | None = None) -> str:
        """An explicit known class wins; else the document type's; else the default."""
        if retention_class and retention_class in self.classes:
            return retention_class
        return self.document_types.get((doc_type or "").strip().lower(), self.default_class)


@dataclass(frozen=True)
class Facts:
    """What the rule needs to know about one document and its patient."""

    doc_type: str
    retention_class: str | None = None
    service_date: date | None = None
    discharge_date: date | None = None
    last_encounter: date | None = None
    date_of_birth: date | None = None
    date_of_death: date | None = None


@dataclass(frozen=True)
class Decision:
    retain_until: date | None  # None: the trigger's date is not known yet
    retention_class: str
    rule: str  # which rule decided: the class name or "minors"
    trigger: str | None = None  # the deciding rule's trigger (service_date, ...)
    trigger_date: date | None = None  # that trigger's date for this record


def policy_path(settings: Settings) -> Path:
    path = settings.retention_policy_file
    return DEFAULT_POLICY_FILE if path == Path() else path


def load_policy(settings: Settings) -> Policy:
    """Read and check the configured policy; ConfigurationError says what is wrong."""
    path = policy_path(settings)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"CHARTVAULT_RETENTION_POLICY_FILE={path}: cannot read it ({exc.strerror})") from exc
    return parse_policy(raw, str(path))


def parse_policy(raw: bytes, where: str = "<policy>") -> Policy:
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"retention policy {where}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigurationError(f"retention policy {where}: not a mapping")
    classes_raw = doc.get("classes")
    if not isinstance(classes_raw, dict) or not classes_raw:
        raise ConfigurationError(f"retention policy {where}: 'classes' must be a mapping")
    classes = {str(n): _rule(str(n), v, where) for n, v in classes_raw.items()}
    default_class = str(doc.get("default_class", ""))
    if default_class not in classes:
        raise ConfigurationError(
            f"retention policy {where}: default_class {default_class!r} is not a class")
    types = {}
    for doc_type, name in (doc.get("document_types") or {}).items():
        if str(name) not in classes:
            raise ConfigurationError(
                f"retention policy {where}: document type {doc_type!r} maps to unknown "
                f"class {name!r}")
        types[str(doc_type).strip().lower()] = str(name)
    majority = doc.get("majority_age", 18)
    if not isinstance(majority, int) or not 0 < majority < 30:
        raise ConfigurationError(f"retention policy {where}: majority_age must be 1..29")
    minors = _rule("minors", doc.get("minors") or {"trigger": "age_of_majority", "years": 0},
                   where)
    return Policy(name=str(doc.get("name", "")), version=hashlib.sha256(raw).hexdigest(),
                  path=where, text=raw.decode("utf-8"), majority_age=majority, minors=minors,
                  default_class=default_class, classes=classes, document_types=types)


def _rule(name: str, value: Any, where: str) -> RetentionRule:
    if not isinstance(value, dict):
        raise ConfigurationError(f"retention policy {where}: class {name!r} must be a mapping")
    trigger = value.get("trigger")
    if trigger not in TRIGGERS:
        raise ConfigurationError(
            f"retention policy {where}: class {name!r} trigger must be one of "
            f"{', '.join(TRIGGERS)}, got {trigger!r}")
    years = value.get("years")
    if years == "permanent":
        years = None
    elif not isinstance(years, int) or isinstance(years, bool) or not 0 <= years <= 200:
        raise ConfigurationError(
            f"retention policy {where}: class {name!r} years must be 0..200 or 'permanent'")
    return RetentionRule(name=name, trigger=trigger, years=years,
                         source=str(value.get("source", "")))


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _trigger_date(rule: RetentionRule, facts: Facts, majority_age: int) -> date | None:
    if rule.trigger == "service_date":
        return facts.service_date
    if rule.trigger == "discharge_date":
        return facts.discharge_date or facts.service_date
    if rule.trigger == "last_encounter":
        known = [d for d in (facts.last_encounter, facts.service_date) if d]
        return max(known) if known else None
    if rule.trigger == "age_of_majority":
        return add_years(facts.date_of_birth, majority_age) if facts.date_of_birth else None
    return facts.date_of_death  # date_of_death


def _apply(rule: RetentionRule, facts: Facts, majority_age: int) -> date | None:
    if rule.permanent:
        return PERMANENT
    start = _trigger_date(rule, facts, majority_age)
    return add_years(start, rule.years) if start else None


def was_minor(facts: Facts, majority_age: int) -> bool:
    if facts.date_of_birth is None or facts.service_date is None:
        return False
    return facts.service_date < add_years(facts.date_of_birth, majority_age)


def decide(policy: Policy, facts: Facts) -> Decision:
    """The policy's retain-until for one document (before the never-shorten rule).

    The latest of the class rule and, for a patient who was a minor at the date
    of service, the minors' rule (date of birth + age of majority + years).
    """
    name = policy.class_for(facts.doc_type, facts.retention_class)
    rule = policy.classes[name]
    until, chosen = _apply(rule, facts, policy.majority_age), rule
    if was_minor(facts, policy.majority_age):
        minor = _apply(policy.minors, facts, policy.majority_age)
        if minor and (until is None or minor > until):
            until, chosen = minor, policy.minors
    return Decision(retain_until=until, retention_class=name,
                    rule="minors" if chosen is policy.minors else name,
                    trigger=chosen.trigger,
                    trigger_date=_trigger_date(chosen, facts, policy.majority_age))


def extended(current: date | None, proposed: date | None) -> date | None:
    """Retention only ever extends: the later of the applied and the proposed date."""
    if current is None:
        return proposed
    if proposed is None:
        return current
    return max(current, proposed)
