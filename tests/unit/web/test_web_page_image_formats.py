"""CHARTVAULT_PAGE_IMAGE_FORMAT: the viewer's page images are made, stored and served in
the format set (OCR run in-process, as the worker runs it)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from chartvault.db import session_scope
from chartvault.models import StoredObject
from ocr import pipeline
from tests.support.pipeline_charts import ingest_chart

pytestmark = pytest.mark.slow


@pytest.fixture(params=[("webp", "image/webp", "WEBP"), ("png", "image/png", "PNG")],
                ids=["webp", "png"])
def image_format(request, cv_env, monkeypatch):  # noqa: ANN001, ANN201
    """The format set before the installation's settings are first read."""
    from chartvault.settings import reset_settings_cache

    monkeypatch.setenv("CHARTVAULT_PAGE_IMAGE_FORMAT", request.param[0])
    reset_settings_cache()
    return request.param


def test_page_images_are_stored_and_served_in_the_format_set(image_format, as_role, settings,
                                                             tmp_path):  # noqa: ANN001
    name, content_type, pillow_format = image_format
    assert settings.page_image_format == name
    document_id = ingest_chart(settings, tmp_path, pages=1)
    for number in pipeline.start_document(document_id):
        pipeline.run_page(document_id, number)
    assert pipeline.claim_for_finish(document_id)
    pipeline.finish_document(document_id)

    with session_scope(settings) as session:
        rows = session.execute(select(StoredObject.kind, StoredObject.key,
                                      StoredObject.content_type).where(
            StoredObject.document_id == document_id,
            StoredObject.kind.like("page-image-%"))).all()
    assert sorted(kind for kind, _, _ in rows) == ["page-image-large", "page-image-small"]
    assert {t for _, _, t in rows} == {content_type}
    suffix = {"webp": ".webp", "png": ".png"}[name]
    assert all(key.endswith(suffix) for _, key, _ in rows)

    staff = as_role("staff")
    for path, widest in (("image", 1000), ("thumb", 200)):
        with staff.get(f"/documents/{document_id}/pages/1/{path}") as r:
            assert r.status_code == 200 and r.mimetype == content_type
            with Image.open(io.BytesIO(r.get_data())) as served:
                assert served.format == pillow_format and served.width <= widest
