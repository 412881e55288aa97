"""The retention policy: loading, versioning, the retain-until rule."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from chartvault.errors import ConfigurationError
from chartvault.policy import (
    DEFAULT_POLICY_FILE,
    PERMANENT,
    Facts,
    add_years,
    decide,
    extended,
    load_policy,
    parse_policy,
)


def test_default_policy_loads_with_sources_and_a_content_version(settings) -> None:  # noqa: ANN001
    policy = load_policy(settings)
    assert policy.version == hashlib.sha256(DEFAULT_POLICY_FILE.read_bytes()).hexdigest()
    assert policy.classes["health_record"].years == 10
    assert policy.classes["master_patient_index"].permanent
    assert all("AHIMA" in rule.source for rule in policy.classes.values())
    assert policy.majority_age == 18


def test_a_policy_file_from_settings_and_any_edit_is_a_new_version(settings, tmp_path) -> None:  # noqa: ANN001
    text = DEFAULT_POLICY_FILE.read_text()
    path = tmp_path / "policy.yaml"
    path.write_text(text + "\n# a comment\n")
    other = load_policy(settings.replace(retention_policy_file=path))
    assert other.version != load_policy(settings).version


@pytest.mark.parametrize("mutation, message", [
    ("classes: []", "'classes' must be a mapping"),
    ("default_class: nowhere", "default_class"),
    ("classes: {a: {trigger: moon, years: 1}}\ndefault_class: a", "trigger must be one of"),
    ("classes: {a: {trigger: service_date, years: -1}}\ndefault_class: a", "years must be"),
])
def test_bad_policies_are_refused_with_the_reason(mutation: str, message: str) -> None:
    base = "classes: {a: {trigger: service_date, years: 1}}\ndefault_class: a\n"
    text = mutation if mutation.startswith("classes") else base + mutation
    with pytest.raises(ConfigurationError, match=message):
        parse_policy(text.encode())


def test_adult_record_runs_ten_years_from_the_last_encounter(settings) -> None:  # noqa: ANN001
    policy = load_policy(settings)
    facts = Facts(doc_type="progress_note", service_date=date(2010, 3, 1),
                  last_encounter=date(2015, 6, 2), date_of_birth=date(1970, 1, 1))
    decision = decide(policy, facts)
    assert decision.retain_until == date(2025, 6, 2)
    assert (decision.retention_class, decision.rule) == ("health_record", "health_record")


def test_minor_follows_the_date_of_birth_rule(settings) -> None:  # noqa: ANN001
    policy = load_policy(settings)
    facts = Facts(doc_type="progress_note", service_date=date(2012, 5, 1),
                  last_encounter=date(2012, 5, 1), date_of_birth=date(2010, 2, 3))
    decision = decide(policy, facts)
    # age of majority (18) + statute of limitations (3) beats 10 years after the visit
    assert decision.retain_until == date(2031, 2, 3)
    assert decision.rule == "minors"


def test_a_teenager_keeps_the_later_adult_date(settings) -> None:  # noqa: ANN001
    policy = load_policy(settings)
    facts = Facts(doc_type="progress_note", service_date=date(2020, 1, 1),
                  date_of_birth=date(2003, 1, 1))
    assert decide(policy, facts).retain_until == date(2030, 1, 1)


def test_permanent_classes_and_unknown_types(settings) -> None:  # noqa: ANN001
    policy = load_policy(settings)
    assert decide(policy, Facts(doc_type="birth_register")).retain_until == PERMANENT
    unknown = decide(policy, Facts(doc_type="Something Else", service_date=date(2000, 1, 1)))
    assert unknown.retention_class == "health_record"
    assert unknown.retain_until == date(2010, 1, 1)
    # nothing known yet: no date, not a made-up one
    assert decide(policy, Facts(doc_type="progress_note")).retain_until is None


def test_dates_only_extend_and_leap_days_survive() -> None:
    assert extended(date(2030, 1, 1), date(2020, 1, 1)) == date(2030, 1, 1)
    assert extended(date(2030, 1, 1), date(2031, 1, 1)) == date(2031, 1, 1)
    assert extended(None, date(2031, 1, 1)) == date(2031, 1, 1)
    assert extended(date(2030, 1, 1), None) == date(2030, 1, 1)
    assert add_years(date(2000, 2, 29), 10) == date(2010, 2, 28)
