"""The key layout: pure functions, every key valid by construction."""

from datetime import date

import pytest

from archive.keys import (
    BadKey,
    audit_anchor_key,
    certificate_key,
    derived_key,
    document_prefix,
    original_key,
    page_image_key,
    page_words_key,
    searchable_pdf_key,
    thumbnail_key,
    validate_key,
    validate_prefix,
)
from chartvault.errors import BadInput

SHA = "ab" * 32


def test_original_key_uses_document_and_digest_prefix():
    assert original_key("doc-1", SHA, ".PDF") == f"documents/doc-1/original-{SHA[:16]}.pdf"
    assert original_key("doc-1", SHA.upper(), "tif") == f"documents/doc-1/original-{SHA[:16]}.tif"
    assert original_key("doc-1", SHA, "") == f"documents/doc-1/original-{SHA[:16]}"


def test_derived_keys():
    assert derived_key("d1", "searchable.pdf") == "documents/d1/derived/searchable.pdf"
    assert derived_key("d1", "pages/0002.png") == "documents/d1/pages/0002.png"
    assert searchable_pdf_key("d1") == "documents/d1/derived/searchable.pdf"
    assert page_image_key("d1", 2) == "documents/d1/pages/0002.png"
    assert thumbnail_key("d1", 2) == "documents/d1/pages/0002-thumb-small.webp"
    assert thumbnail_key("d1", 12, "large", "jpg") == "documents/d1/pages/0012-thumb-large.jpg"
    assert page_words_key("d1", 2) == "documents/d1/pages/0002-words.json"


def test_prefix_holds_every_document_key():
    prefix = document_prefix("d1")
    assert prefix == "documents/d1/"
    for key in (original_key("d1", SHA, ".pdf"), page_image_key("d1", 1), searchable_pdf_key("d1")):
        assert key.startswith(prefix)
    assert not original_key("d10", SHA, ".pdf").startswith(prefix)


def test_audit_and_certificate_keys():
    assert audit_anchor_key(date(2026, 11, 22)) == "audit/anchors/2026-11-22.json"
    assert certificate_key("c-7") == "certificates/c-7.pdf"
    assert certificate_key("c-7", ".json") == "certificates/c-7.json"


@pytest.mark.parametrize(
    "call",
    [
        lambda: original_key("../x", SHA, ".pdf"),
        lambda: original_key("a/b", SHA, ".pdf"),
        lambda: original_key("d1", "not-hex", ".pdf"),
        lambda: original_key("d1", SHA, "../pdf"),
        lambda: derived_key("d1", "../original-x"),
        lambda: derived_key("d1", "original-fake.pdf/x"),
        lambda: derived_key("d1", "pages//x"),
        lambda: derived_key("d1", ""),
        lambda: page_image_key("d1", -1),
        lambda: page_image_key("d1", True),
        lambda: certificate_key(""),
        lambda: audit_anchor_key("2026-11-22"),
    ],
)
def test_bad_parts_are_refused(call):
    with pytest.raises(BadKey):
        call()


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a/./b", "a//b", "a/", ".hidden", "a/.versions",
     "a\x00b", "a\nb", "a\\b", "x" * 1025, "a/" + "y" * 256, None, 3],
)
def test_validate_key_refuses(key):
    with pytest.raises(BadInput):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "documents/d1/original-0123.pdf", "é/ü", "a b/c"])
def test_validate_key_accepts(key):
    assert validate_key(key) == key


def test_validate_prefix():
    assert validate_prefix("") == ""
    assert validate_prefix("documents/") == "documents/"
    assert validate_prefix("documents/d") == "documents/d"
    with pytest.raises(BadKey):
        validate_prefix("../")
