"""Typed, frozen settings built from ``CHARTVAULT_*`` variables.

This is the only module that reads the environment. An optional settings file
(``CHARTVAULT_SETTINGS_FILE``, YAML with the same names in lower case and
without the prefix) gives defaults that the environment overrides. Every value
is parsed and checked here, so a bad setting fails at start-up with the
variable's name instead of deep inside a worker.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from chartvault.errors import ConfigurationError

PREFIX = "CHARTVAULT_"

OBJECT_STORES = ("filesystem", "s3")
SEARCH_BACKENDS = ("tantivy", "elasticsearch")
ENVIRONMENTS = ("development", "production")
# What separator sheets may carry (ingest.barcodes reads them): QR (Micro QR with it),
# Code 128, Code 39 (PATCH T sheets), Data Matrix.
SEPARATOR_SYMBOLOGIES = ("qr", "code128", "code39", "datamatrix")
DEFAULT_SEPARATOR_SYMBOLOGIES = ("qr", "code128", "code39")
PAGE_IMAGE_FORMATS = ("jpeg", "webp", "png")  # ocr.thumbnails.FORMATS
# CHARTVAULT_* variables that are not settings: this file's own, the first web admin's
# password (scripts/setup.sh), the marker workers carry (chartvault.workers) and the
# pipeline bench's probe (bench/worker_probe). Any other unknown name stops start-up.
NOT_SETTINGS = frozenset({"SETTINGS_FILE", "ADMIN_PASSWORD", "STARTED_BY", "BENCH_PROBE"})
# (lowest, highest) accepted for each number; a value outside stops start-up
RANGES: dict[str, tuple[float, float]] = {
    "default_retention_years": (1, 200),
    "search_shards": (1, 64),  # search.shards.MAX_SHARDS (not imported: no cycle)
    "ocr_dpi": (70, 1200),
    "ocr_page_timeout": (1, 3600),
    "ocr_confidence_threshold": (0, 100),
    "max_file_mb": (1, 10_000),
    "max_pages": (1, 100_000),
    "max_pixels": (1_000_000, 2_000_000_000),
    "max_page_decoded_mb": (8, 4096),
    "max_document_decoded_mb": (8, 1_000_000),
    "separator_dpi": (50, 600),
    "hot_folder_interval": (0.1, 3600),
    "worker_concurrency": (1, 256),
    "worker_max_memory_mb": (100, 1_000_000),
    "broker_visibility_timeout": (4, 86_400),
    "session_timeout_minutes": (0.01, 24 * 60),  # fractions: tests use a few seconds
    "minimum_retention_days": (0, 36_500),
    "intake_lock_hours": (0, 24 * 365),
    "max_batch_mb": (1, 1_000_000),
    "max_concurrent_uploads": (1, 1000),
    "upload_temp_reserve_mb": (0, 1_000_000),
    "trusted_proxies": (0, 5),  # proxy hops
}
# the backends a production deployment must name: an embedded default chosen because a
# variable was left out would keep records where the deployment does not look
PRODUCTION_NAMED = ("database_url", "broker_url", "object_store", "search_backend")


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "chartvault"


@dataclass(frozen=True)
class Settings:
    """Every knob of the service. Derived defaults live in :func:`load_settings`."""

    home: Path
    environment: str = "development"
    database_url: str = ""
    broker_url: str = ""
    # object store
    object_store: str = "filesystem"
    store_path: Path = Path()
    storage_key: str = ""  # base64 AES-256 key for the filesystem store; SSE-C key for S3
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "chartvault"
    s3_region: str = "us-east-1"
    s3_encryption: str = "none"  # none | sse-s3 | sse-c
    default_retention_years: int = 10  # only for a record whose facts are incomplete
    minimum_retention_days: int = 0  # every new record locked at least this long (quality check)
    intake_lock_hours: int = 24  # scan stacks locked this long, deleted once split and indexed
    # records lifecycle (retention/)
    retention_policy_file: Path = Path()  # empty: the packaged AHIMA-based default
    retention_sweep_time: str = "03:15"  # HH:MM UTC, nightly Celery beat sweep
    facility_name: str = "Chartvault Facility"  # printed on certificates of destruction
    # search
    search_backend: str = "tantivy"
    index_path: Path = Path()
    search_shards: int = 2  # Tantivy shards, searched at once in processes (one per core)
    elasticsearch_url: str = ""
    elasticsearch_index: str = "chartvault-pages"
    elasticsearch_username: str = ""  # with the password: HTTP basic auth (security on)
    elasticsearch_password: str = ""
    # OCR
    ocr_language: str = "eng"
    ocr_dpi: int = 300
    ocr_page_timeout: int = 180
    ocr_confidence_threshold: float = 60.0
    ocr_force: bool = False
    ocr_engine: str = "tesserocr"  # tesserocr: C API, model kept loaded; tesseract: CLI per page
    ocr_tessdata: Path | None = None  # tesserocr's traineddata folder; None: Debian's
    # the viewer's page images (ocr.thumbnails): jpeg encodes a page in ~2 ms, webp in
    # 12-26 ms for a quarter fewer bytes, png is lossless (up to 2.5x jpeg's bytes on scans)
    page_image_format: str = "jpeg"
    # intake limits
    mrn_pattern: str = r"^[A-Z0-9]{6,12}$"
    max_file_mb: int = 512
    # one upload request (a batch of files): the body is refused above this before it
    # is read; each file in it is also held to max_file_mb while it arrives
    max_batch_mb: int = 2048
    max_concurrent_uploads: int = 2  # per user, per web process
    # an upload is refused (507) unless the temporary folder keeps this much free after it
    upload_temp_reserve_mb: int = 512
    max_pages: int = 1000
    max_pixels: int = 200_000_000
    # decoded bytes (ocr.bombs): a 600 dpi colour letter page is 101 MB, a 300 dpi one 25;
    # the largest real page we hold (ocrmypdf-multipage.pdf: 30 in square, 300 dpi colour) 232
    max_page_decoded_mb: int = 250
    max_document_decoded_mb: int = 32_000
    # intake: document types, separator sheets, hot folder
    document_types_file: Path | None = None  # YAML; None = the list shipped in ingest/
    register_patients: bool = True  # False: an MRN not in the catalog is quarantined
    separator_barcodes: tuple[str, ...] = ("PATCHT",)  # plain separator-sheet values
    # the symbologies separator sheets are searched for (SEPARATOR_SYMBOLOGIES): each one
    # more costs every page of every stack; Data Matrix alone took a third of the search
    separator_symbologies: tuple[str, ...] = DEFAULT_SEPARATOR_SYMBOLOGIES
    separator_dpi: int = 150  # the samples' barcodes still read at 100-120 (ingest.barcodes)
    hot_folder: Path | None = None  # when set, `serve` also watches this folder
    hot_folder_interval: float = 2.0
    # workers and web
    worker_concurrency: int = 2
    # a pool process above this resident size is replaced after its current task: the
    # tesserocr engine keeps Tesseract loaded in the process, so slow growth is bounded
    worker_max_memory_mb: int = 350
    # seconds before Redis hands an unacknowledged task (its worker died) to another
    # worker; live workers renew theirs every quarter of it (chartvault.broker_heartbeat)
    broker_visibility_timeout: int = 60
    log_level: str = "warning"  # CLI log level (the worker takes --loglevel); JSON on stderr
    secret_key: str = ""
    # reverse proxies in front of `serve` whose X-Forwarded-For/-Proto/-Host are believed
    # (Werkzeug's ProxyFix): exactly as many as there are, 0 when browsers reach it directly
    trusted_proxies: int = 0
    session_timeout_minutes: float = 15  # fractions allowed (tests use a few seconds)
    # a second copy of every audit anchor, somewhere the site controls: "" (none),
    # "syslog" (the local syslog, facility auth), or a file path (one JSON line each)
    audit_anchor_export: str = ""

    @property
    def embedded_queue(self) -> bool:
        return not self.broker_url.startswith(("redis://", "rediss://", "amqp://", "pyamqp://"))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _text(value: str) -> str:
    return value.strip()


def _int(value: str) -> int:
    return int(value)


def _float(value: str) -> float:
    return float(value)


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _path(value: str) -> Path:
    return Path(value).expanduser()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _clock(value: str) -> str:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ValueError(f"expected HH:MM (24-hour, UTC), got {value!r}")
    return f"{int(match[1]):02d}:{match[2]}"


def _optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value.strip() else None


def _words(value: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in value.split(",") if w.strip())


def _regex(value: str) -> str:
    re.compile(value)
    return value


def _storage_key(value: str) -> str:
    """Base64 of 32 bytes (AES-256), checked here so that a bad key stops start-up, not
    the first upload; the archive decodes it (archive.common.decode_storage_key)."""
    value = value.strip()
    if not value:
        return value
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64 (expected 32 random bytes, e.g. "
                         "`openssl rand -base64 32`)") from exc
    if len(key) != 32:
        raise ValueError(f"must decode to 32 bytes (AES-256), got {len(key)}; make one with "
                         "`openssl rand -base64 32`")
    return value


_PARSERS: dict[str, Callable[[str], Any]] = {
    "home": _path,
    "environment": _choice(*ENVIRONMENTS),
    "database_url": _text,
    "broker_url": _text,
    "object_store": _choice(*OBJECT_STORES),
    "store_path": _path,
    "storage_key": _storage_key,
    "s3_endpoint": _text,
    "s3_access_key": _text,
    "s3_secret_key": _text,
    "s3_bucket": _text,
    "s3_region": _text,
    "s3_encryption": _choice("none", "sse-s3", "sse-c"),
    "default_retention_years": _int,
    "minimum_retention_days": _int,
    "intake_lock_hours": _int,
    "retention_policy_file": _path,
    "retention_sweep_time": _clock,
    "facility_name": _text,
    "search_backend": _choice(*SEARCH_BACKENDS),
    "index_path": _path,
    "search_shards": _int,
    "elasticsearch_url": _text,
    "elasticsearch_index": _text,
    "elasticsearch_username": _text,
    "elasticsearch_password": _text,
    "ocr_language": _text,
    "ocr_dpi": _int,
    "ocr_page_timeout": _int,
    "ocr_confidence_threshold": _float,
    "ocr_force": _bool,
    "ocr_engine": _choice("tesseract", "tesserocr"),
    "page_image_format": _choice(*PAGE_IMAGE_FORMATS),
    "ocr_tessdata": _optional_path,
    "mrn_pattern": _regex,
    "max_file_mb": _int,
    "max_batch_mb": _int,
    "max_concurrent_uploads": _int,
    "upload_temp_reserve_mb": _int,
    "max_pages": _int,
    "max_pixels": _int,
    "max_page_decoded_mb": _int,
    "max_document_decoded_mb": _int,
    "document_types_file": _optional_path,
    "register_patients": _bool,
    "separator_barcodes": _words,
    "separator_dpi": _int,
    "separator_symbologies": lambda value: tuple(w.lower() for w in _words(value)),
    "hot_folder": _optional_path,
    "hot_folder_interval": _float,
    "worker_concurrency": _int,
    "worker_max_memory_mb": _int,
    "broker_visibility_timeout": _int,
    "log_level": _choice("debug", "info", "warning", "error"),
    "secret_key": _text,
    "trusted_proxies": _int,
    "session_timeout_minutes": _float,
    "audit_anchor_export": _text,
}


def variable(name: str) -> str:
    """The environment variable that sets field ``name``."""
    return PREFIX + name.upper()


def _raw_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings file's values, overridden by the environment's; raises
    :class:`ConfigurationError` for a name that is no setting (a typo)."""
    raw: dict[str, str] = {}
    settings_file = environ.get(PREFIX + "SETTINGS_FILE")
    if settings_file:
        try:
            loaded = yaml.safe_load(Path(settings_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"{PREFIX}SETTINGS_FILE={settings_file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"{PREFIX}SETTINGS_FILE={settings_file}: not a mapping")
        for key, value in loaded.items():
            name = str(key).lower()
            if name not in _PARSERS:
                raise ConfigurationError(f"{_unknown(variable(name))} (key {key!r} in the "
                                         f"settings file {settings_file})")
            raw[name] = "" if value is None else str(value)
    for key, value in environ.items():
        if not key.startswith(PREFIX) or key[len(PREFIX):] in NOT_SETTINGS:
            continue
        name = key[len(PREFIX):].lower()
        if name not in _PARSERS or key != variable(name):
            raise ConfigurationError(_unknown(key))
        raw[name] = value
    return raw


def _unknown(key: str) -> str:
    """"unknown setting X", with the nearest real name when there is one close enough."""
    names = [variable(n) for n in _PARSERS] + [PREFIX + n for n in NOT_SETTINGS]
    near = difflib.get_close_matches(key.upper(), names, n=1, cutoff=0.75)
    return f"unknown setting {key}" + (f"; did you mean {near[0]}?" if near else
                                       "; see the settings table in README.md")


def load_settings(environ: Mapping[str, str] | None = None, *, local_secrets: bool = True
                  ) -> Settings:
    """Parse and validate; raises :class:`ConfigurationError` naming the variable.

    With ``local_secrets`` a development install gets its secret and storage keys
    from ``CHARTVAULT_HOME/secrets.json`` (made on first use) when not set.
    """
    environ = os.environ if environ is None else environ
    raw = _raw_values(environ)
    values: dict[str, Any] = {}
    for name, text in raw.items():
        try:
            values[name] = _PARSERS[name](text)
        except (ValueError, re.error) as exc:
            raise ConfigurationError(f"{variable(name)}: {exc}") from exc
    home = values.pop("home", None) or _default_home()
    settings = Settings(home=home, **values)
    if settings.environment == "production":
        _require_named(raw)
    if local_secrets and settings.environment == "development":
        settings = _fill_local_secrets(settings)
    return _derive(settings)


def _require_named(raw: Mapping[str, str]) -> None:
    missing = [variable(name) for name in PRODUCTION_NAMED if not raw.get(name, "").strip()]
    if missing:
        raise ConfigurationError(
            f"{', '.join(missing)} must be set in production: the embedded catalog, queue, "
            "store and index are used there only when named (e.g. "
            f"{variable('object_store')}=filesystem), never because a variable was left out")


def _fill_local_secrets(s: Settings) -> Settings:
    if s.secret_key and s.storage_key:
        return s
    from chartvault import local_secrets

    made = local_secrets.ensure(s.home)
    return s.replace(secret_key=s.secret_key or made["secret_key"],
                     storage_key=s.storage_key or made["storage_key"])


def _derive(s: Settings) -> Settings:
    home = s.home
    changes: dict[str, Any] = {}
    if not s.database_url:
        changes["database_url"] = f"sqlite:///{home / 'catalog.sqlite3'}"
    if not s.broker_url:
        changes["broker_url"] = f"sqlite-queue+sqlite:///{home / 'queue.sqlite3'}"
    if s.store_path == Path():
        changes["store_path"] = home / "objects"
    if s.index_path == Path():
        changes["index_path"] = home / "index"
    s = s.replace(**changes)
    _validate(s)
    return s


def _validate(s: Settings) -> None:
    if s.object_store == "s3":
        for name in ("s3_endpoint", "s3_access_key", "s3_secret_key", "s3_bucket"):
            if not getattr(s, name):
                raise ConfigurationError(
                    f"{variable(name)} is required when {variable('object_store')}=s3"
                )
        if s.s3_encryption == "sse-c" and not s.storage_key:
            raise ConfigurationError(f"{variable('storage_key')} is required for SSE-C")
    if s.search_backend == "elasticsearch" and not s.elasticsearch_url:
        raise ConfigurationError(
            f"{variable('elasticsearch_url')} is required when "
            f"{variable('search_backend')}=elasticsearch"
        )
    if bool(s.elasticsearch_username) != bool(s.elasticsearch_password):
        raise ConfigurationError(f"{variable('elasticsearch_username')} and "
                                 f"{variable('elasticsearch_password')} go together")
    if s.environment == "production":
        for name in ("secret_key", "storage_key"):
            if not getattr(s, name):
                raise ConfigurationError(f"{variable(name)} is required in production")
        if s.search_backend == "elasticsearch" and not s.elasticsearch_password:
            raise ConfigurationError(  # PHI in an index anyone on the network can read
                f"{variable('elasticsearch_password')} is required in production")
    for name, (low, high) in RANGES.items():
        value = getattr(s, name)
        if not low <= value <= high:
            raise ConfigurationError(f"{variable(name)} must be between {low:g} and {high:g}, "
                                     f"got {value:g}")
    unknown = [name for name in s.separator_symbologies if name not in SEPARATOR_SYMBOLOGIES]
    if unknown or not s.separator_symbologies:
        raise ConfigurationError(
            f"{variable('separator_symbologies')}: {', '.join(unknown) or 'none given'}; "
            f"choose from {', '.join(SEPARATOR_SYMBOLOGIES)}")
    export = s.audit_anchor_export
    if export and export != "syslog" and not Path(export).is_absolute():
        raise ConfigurationError(f"{variable('audit_anchor_export')} must be syslog or an "
                                 f"absolute file path, got {export!r}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed once."""
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
