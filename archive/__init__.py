"""Object storage with retention enforced by the storage: interface, backends, keys.

``open_store(settings)`` returns the configured :class:`ObjectStore`:
the local-folder :class:`FilesystemStore` (default) or the S3 backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archive.common import decode_storage_key
from archive.filesystem import FilesystemStore
from archive.fixity import ExpectedObject, FixityProblem, FixityReport
from archive.interface import (
    IntegrityMismatch,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    ObjectStore,
    StorageRejected,
    StorageUnavailable,
)
from archive.keys import (
    BadKey,
    audit_anchor_key,
    certificate_key,
    derived_key,
    document_prefix,
    original_key,
    page_file_key,
    page_image_key,
    page_words_key,
    quarantine_key,
    searchable_pdf_key,
    stack_key,
    staging_key,
    thumbnail_key,
    validate_key,
)
from chartvault.errors import ConfigurationError

if TYPE_CHECKING:
    from chartvault.settings import Settings

__all__ = [
    "BadKey",
    "ExpectedObject",
    "FixityProblem",
    "FixityReport",
    "FilesystemStore",
    "IntegrityMismatch",
    "ObjectInfo",
    "ObjectLocked",
    "ObjectNotFound",
    "ObjectStore",
    "StorageRejected",
    "StorageUnavailable",
    "audit_anchor_key",
    "certificate_key",
    "decode_storage_key",
    "derived_key",
    "document_prefix",
    "open_store",
    "original_key",
    "page_file_key",
    "page_image_key",
    "page_words_key",
    "quarantine_key",
    "searchable_pdf_key",
    "stack_key",
    "staging_key",
    "thumbnail_key",
    "validate_key",
]


def open_store(settings: Settings) -> ObjectStore:
    """The object store chosen by ``settings.object_store``; ConfigurationError if unusable."""
    if settings.object_store == "filesystem":
        return FilesystemStore(settings.store_path, decode_storage_key(settings.storage_key))
    if settings.object_store == "s3":
        from archive.s3 import S3Store  # the minio SDK is only imported when used

        return S3Store.from_settings(settings)
    raise ConfigurationError(
        f"CHARTVAULT_OBJECT_STORE={settings.object_store!r}: expected filesystem or s3"
    )
