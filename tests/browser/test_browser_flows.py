"""The web page in headless Chromium: sign in, upload a chart, watch it finish,
search a word of page 2, see it highlighted in the viewer; roles; inactivity logoff;
OCR text with markup stays inert. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from browser_support import sign_in

from tests.support.hostile import insert_hostile_document

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = '<script>window.__xss=1</script> "><img src=x onerror="window.__xss=2"> xsscanary'


def _page2_word(settings, document_id: str, truth: tuple[str, ...]) -> str:  # noqa: ANN001
    """A long word the OCR read on page 2 only (and that is in the ground truth there)."""
    from sqlalchemy import select

    from chartvault.db import session_scope
    from chartvault.models import Page

    with session_scope(settings) as session:
        texts = {p.number: (p.text or "") for p in session.scalars(
            select(Page).where(Page.document_id == document_id))}

    def words(text: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Za-z]{8,}", text)}

    others = set().union(*(words(t) for n, t in texts.items() if n != 2),
                         *(words(t) for i, t in enumerate(truth) if i != 1))
    candidates = sorted((words(texts[2]) & words(truth[1])) - others)
    assert candidates, "page 2 should have a word of its own"
    return candidates[0]


def test_upload_search_and_view_highlight(live, page, tmp_path) -> None:  # noqa: ANN001
    from chartvault.synthetic import ChartSpec, make_chart

    chart = make_chart(ChartSpec(mrn="TST000777", patient_name="TESTPATIENT, Browser B.",
                                 date_of_birth=date(1961, 3, 4), doc_type="discharge_summary",
                                 service_date=date(2024, 6, 7), pages=3, seed=7,
                                 paragraphs=1), tmp_path / "chart.pdf", fmt="pdf", dpi=150)
    page.goto(live.url + "/search")
    assert "/login" in page.url  # every door is locked
    live.shot(page, "01-login")
    sign_in(page, live.url, "clerk")

    page.goto(live.url + "/upload")
    empty = tmp_path / "empty-scan.pdf"
    empty.write_bytes(b"")
    page.set_input_files("#files", [str(chart.path), str(empty)])
    page.get_by_label("MRN").fill("TST000777")
    page.get_by_label("Document type").fill("discharge_summary")
    page.get_by_label("Service date").fill("2024-06-07")
    page.get_by_label("Patient name (new patients)").fill("TESTPATIENT, Browser B.")
    page.get_by_label("Date of birth (new patients)").fill("1961-03-04")
    live.shot(page, "02-upload")
    page.get_by_role("button", name="Upload").click()
    try:
        page.wait_for_url(re.compile(r"/batches/[0-9a-f]{32}$"))
    except Exception:
        print("UPLOAD STATUS:", page.locator("#upload-status").inner_text())
        raise
    live.shot(page, "03-batch-working")
    page.wait_for_selector("#batch-state[data-done=true]", timeout=180_000)
    assert "indexed" in page.locator("#batch-docs").inner_text()
    live.shot(page, "04-batch-done")
    document_id = page.locator("#batch-docs tr[data-id]").first.get_attribute("data-id")
    batch_url = page.url
    # The bad file is in quarantine with its reason, and the clerk deals with it here.
    assert "empty-scan.pdf" in page.locator("ul.quarantine").inner_text()
    page.get_by_label("Reason").fill("blank upload, rescanned")
    page.get_by_role("button", name="Discard").click()
    page.wait_for_url(re.compile(r"/quarantine$"))
    assert "Entry discarded" in page.locator(".flash").inner_text()
    page.goto(batch_url)
    assert "discarded" in page.locator("ul.quarantine").inner_text()

    word = _page2_word(live.settings, document_id, chart.page_texts)
    page.goto(live.url + "/search")
    page.get_by_label("Search words").fill(word)
    page.get_by_role("button", name="Search").click()
    hit = page.locator(".hit").first
    assert "page 2" in hit.locator(".pageno").first.inner_text()
    assert word in hit.locator("mark").first.inner_text().lower()
    live.shot(page, "05-search")

    hit.locator(".pageno", has_text="page 2").first.click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f]{32}\?"))
    assert "Page 2 of 3" in page.locator(".pager").inner_text()
    boxes = page.locator("svg.pageimg rect.hitbox")
    assert boxes.count() >= 1
    box = boxes.first.bounding_box()
    assert box and box["width"] > 5 and box["height"] > 5  # drawn over the page image
    assert page.evaluate(  # the page image really loaded (not a broken image)
        "() => fetch(document.querySelector('svg.pageimg image').getAttribute('href'))"
        ".then(r => r.ok && r.headers.get('content-type').startsWith('image/'))")
    assert word in page.locator(".ocrtext").inner_text().lower()
    live.shot(page, "06-viewer-page2-highlight")

    page.get_by_role("link", name="TST000777").click()
    page.wait_for_url(re.compile(r"/patients/TST000777$"))
    assert "discharge summary" in page.locator(".timeline").inner_text().lower()
    live.shot(page, "07-patient")
    for path, name in (("/quarantine", "08-quarantine"), ("/review", "09-review")):
        page.goto(live.url + path)
        live.shot(page, name)


def test_clerk_cannot_open_retention(live, page) -> None:  # noqa: ANN001
    sign_in(page, live.url, "clerk")
    assert page.get_by_role("link", name="Retention").count() == 0  # not offered
    response = page.goto(live.url + "/retention")
    assert response.status == 403
    assert "may not" in page.locator("[role=alert]").inner_text()
    live.shot(page, "10-clerk-refused-retention")


def test_records_manager_auditor_and_admin_pages(live, page) -> None:  # noqa: ANN001
    sign_in(page, live.url, "records-manager")
    assert page.goto(live.url + "/retention").status == 200
    assert page.get_by_role("heading", name="Legal holds", exact=True).is_visible()
    live.shot(page, "11-retention")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))

    sign_in(page, live.url, "auditor")
    assert page.goto(live.url + "/search").status == 403  # auditors read the log, not charts
    page.goto(live.url + "/audit?action=search")
    assert "search" in page.locator("table.audit").inner_text()
    live.shot(page, "12-audit")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live.url, "admin")
    page.goto(live.url + "/dashboard")
    assert page.locator("#chart-pages-per-day rect.bar").count() == 30
    live.shot(page, "13-dashboard")


def test_logoff_after_inactivity(live, page) -> None:  # noqa: ANN001
    sign_in(page, live.short_url, "clerk")
    page.goto(live.short_url + "/search")
    assert "/search" in page.url
    # The page sends itself to sign-in once the 3-second limit has passed...
    page.wait_for_url(re.compile(r"/login\?.*reason=timeout"), timeout=15_000)
    assert "inactivity" in page.locator("[role=status]").inner_text()
    live.shot(page, "14-logged-off")
    # ...and the server refuses the old session cookie too.
    time.sleep(0.2)
    page.goto(live.short_url + "/search")
    assert "/login" in page.url


def test_ocr_text_with_markup_renders_inert(live, page) -> None:  # noqa: ANN001
    document_id = insert_hostile_document(live.settings, PAYLOAD)
    alerts = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    sign_in(page, live.url, "admin")
    for path in ("/search?q=xsscanary", "/patients/TSTXSS001", "/review",
                 f"/documents/{document_id}"):
        page.goto(live.url + path)
        assert page.evaluate("() => window.__xss") is None, path
        assert page.locator("img[onerror]").count() == 0, path
        assert page.locator("main script").count() == 0, path
    # On the viewer the markup is shown as the text it is.
    assert "<script>window.__xss=1</script>" in page.locator(".ocrtext").inner_text()
    live.shot(page, "15-xss-inert-viewer")
    assert not alerts
