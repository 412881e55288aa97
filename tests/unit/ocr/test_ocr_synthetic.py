"""The synthetic chart generator: deterministic, fake, and knows its own text."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from PIL import Image
from pypdf import PdfReader

from chartvault.synthetic import (
    FACILITY,
    ChartSpec,
    fake_patients,
    make_chart,
    render_page,
    spec_for,
)


def _spec(**options: object) -> ChartSpec:
    return ChartSpec(mrn="TST004211", patient_name="TESTPATIENT, Alice Q.",
                     date_of_birth=date(1961, 4, 2), doc_type="Progress Note",
                     service_date=date(2024, 5, 2), **options)  # type: ignore[arg-type]


def test_fake_patients_are_deterministic_distinct_and_obviously_fake():
    patients = fake_patients(50, seed=3)
    assert patients == fake_patients(50, seed=3) != fake_patients(50, seed=4)
    assert len({p.mrn for p in patients}) == 50
    assert all(p.mrn.startswith("TST") and len(p.mrn) == 9 for p in patients)
    assert all(p.name.split(",")[0].isupper() for p in patients)


def test_ground_truth_holds_the_header_and_clinical_words():
    image, text = render_page(_spec(paragraphs=6, seed=2), 1, dpi=72)
    assert text.splitlines()[:4] == [
        FACILITY, "Progress Note    Page 1 of 1",
        "Patient: TESTPATIENT, Alice Q.    MRN: TST004211",
        "DOB: 1961-04-02    Encounter: 2024-05-02",
    ]
    assert image.size == (612, 792) and image.mode == "L"


def test_clinical_vocabulary_appears_across_pages():
    texts = [render_page(_spec(seed=s, paragraphs=4), 1, dpi=72)[1] for s in range(12)]
    joined = " ".join(texts)
    for word in ("hypertension", "metformin", "left knee", "I10", "E11.9"):
        assert word in joined


def test_same_spec_same_bytes(tmp_path):
    spec = spec_for(fake_patients(1, 9)[0], 9, pages=2, noise=True, skew=2.0)
    a = make_chart(spec, tmp_path / "a.tif", "tiff", dpi=72)
    b = make_chart(spec, tmp_path / "b.tif", "tiff", dpi=72)
    digest = [hashlib.sha256(x.path.read_bytes()).hexdigest() for x in (a, b)]
    assert digest[0] == digest[1] and a.page_texts == b.page_texts


def test_pages_differ_and_count(tmp_path):
    chart = make_chart(_spec(pages=3, seed=1), tmp_path / "c.pdf", "pdf", dpi=72)
    assert len(chart.page_texts) == 3 and len(set(chart.page_texts)) == 3
    reader = PdfReader(chart.path)
    assert len(reader.pages) == 3
    assert not (reader.pages[0].extract_text() or "").strip()  # a scan: no text layer


def test_born_digital_pdf_has_the_same_text(tmp_path):
    chart = make_chart(_spec(pages=2, seed=1), tmp_path / "c.pdf", "pdf-text", dpi=300)
    extracted = [page.extract_text() for page in PdfReader(chart.path).pages]
    for got, want in zip(extracted, chart.page_texts, strict=True):
        assert " ".join(got.split()) == " ".join(want.split())


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotation_and_skew_keep_the_truth(turn):
    upright, truth = render_page(_spec(), 1, dpi=72)
    turned, turned_truth = render_page(_spec(rotate=turn, skew=3.0), 1, dpi=72)
    assert turned_truth == truth
    assert turned.size == (upright.size if turn == 180 else upright.size[::-1])


def test_dpi_scales_the_page(tmp_path):
    chart = make_chart(_spec(), tmp_path / "p.png", "png", dpi=150)
    with Image.open(chart.path) as image:
        assert image.size == (1275, 1650)
        assert round(image.info["dpi"][0]) == 150


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match="one page"):
        make_chart(_spec(pages=2), tmp_path / "x.png", "png")
    with pytest.raises(ValueError, match="fmt"):
        make_chart(_spec(), tmp_path / "x.gif", "gif")
    with pytest.raises(ValueError, match="multiple of 90"):
        make_chart(_spec(rotate=45), tmp_path / "x.pdf", "pdf")
    with pytest.raises(ValueError, match="overflows"):
        render_page(_spec(paragraphs=40), 1, dpi=72)


def test_demo_batch_from_the_command_line(tmp_path, capsys):
    import json

    from chartvault.synthetic import main

    main([str(tmp_path), "--charts", "3", "--pages", "2", "--dpi", "72", "--seed", "4"])
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth) == 3 and all(len(entry["pages"]) == 2 for entry in truth)
    assert all((tmp_path / entry["file"]).is_file() for entry in truth)
    assert truth[0]["mrn"] in truth[0]["pages"][0]
    assert "3 charts" in capsys.readouterr().out
