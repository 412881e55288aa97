"""Document types: the shipped list, aliases, a site's own list."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartvault.errors import BadInput, ConfigurationError
from ingest.doctypes import document_types


def test_shipped_types_map_to_retention_classes(settings) -> None:  # noqa: ANN001
    types = document_types(settings)
    for name in ("admission", "discharge_summary", "progress_notes", "lab_results",
                 "imaging_report", "consent", "correspondence", "operative_report",
                 "medication_record"):
        assert types.resolve(name).retention_class
    assert types.resolve("Discharge Summary").name == "discharge_summary"
    assert types.resolve("Radiology Report").name == "imaging_report"
    assert types.resolve("").name == "unspecified"
    with pytest.raises(BadInput) as caught:
        types.resolve("horoscope")
    assert caught.value.code == "unknown_doc_type"


def test_a_site_list_from_the_setting(settings, tmp_path: Path) -> None:  # noqa: ANN001
    custom = tmp_path / "types.yaml"
    custom.write_text("types:\n  dental_chart: {label: Dental, retention_class: dental}\n")
    types = document_types(settings.replace(document_types_file=custom))
    assert types.resolve("dental chart").retention_class == "dental"
    with pytest.raises(BadInput):
        types.resolve("consent")
    broken = tmp_path / "broken.yaml"
    broken.write_text("kinds: []\n")
    with pytest.raises(ConfigurationError) as caught:
        document_types(settings.replace(document_types_file=broken))
    assert "CHARTVAULT_DOCUMENT_TYPES_FILE" in caught.value.message


def test_every_shipped_class_is_a_class_of_the_default_retention_policy(settings) -> None:  # noqa: ANN001
    import yaml

    from chartvault.policy import __file__ as policy_module

    policy = yaml.safe_load((Path(policy_module).parent / "default_policy.yaml").read_text())
    classes = {t.retention_class for t in document_types(settings).types.values()}
    assert classes <= set(policy["classes"])


def test_the_synthetic_and_demo_types_resolve(settings) -> None:  # noqa: ANN001
    from chartvault.synthetic import DOC_TYPES

    types = document_types(settings)
    assert {types.resolve(t).name for t in DOC_TYPES} == {
        "progress_notes", "discharge_summary", "operative_report", "consultation",
        "history_and_physical", "imaging_report", "lab_results"}
