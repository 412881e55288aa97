"""Document types and their retention classes, from a small YAML list.

The shipped list is ``ingest/doctypes.yaml``; ``CHARTVAULT_DOCUMENT_TYPES_FILE``
points at a site's own. Input spellings are normalised ("Discharge Summary",
"discharge-summary" -> ``discharge_summary``) and aliases resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from chartvault.errors import BadInput, ConfigurationError
from chartvault.settings import Settings

SHIPPED = Path(__file__).with_name("doctypes.yaml")
UNSPECIFIED = "unspecified"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


@dataclass(frozen=True)
class DocumentType:
    name: str
    label: str
    retention_class: str


@dataclass(frozen=True)
class DocumentTypes:
    types: dict[str, DocumentType]
    aliases: dict[str, str]

    def resolve(self, value: str | None) -> DocumentType:
        """The type for ``value`` (empty -> unspecified); BadInput unknown_doc_type."""
        key = normalise(value or "") or UNSPECIFIED
        name = self.aliases.get(key, key)
        if name not in self.types:
            raise BadInput(f"unknown document type {key!r}; known types: "
                           f"{', '.join(sorted(self.types))}", code="unknown_doc_type")
        return self.types[name]


def normalise(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")


def document_types(settings: Settings) -> DocumentTypes:
    """The configured list; ConfigurationError naming the file when it is malformed."""
    return _load(settings.document_types_file or SHIPPED)


@lru_cache(maxsize=4)
def _load(path: Path) -> DocumentTypes:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        entries = data["types"]
        types, aliases = {}, {}
        for name, entry in entries.items():
            entry = entry or {}
            if not _NAME.match(str(name)):
                raise ValueError(f"type name {name!r} must be lower case with underscores")
            types[name] = DocumentType(name=name, label=str(entry.get("label") or name),
                                       retention_class=str(entry.get("retention_class")
                                                           or "health_record"))
            for alias in entry.get("aliases") or ():
                aliases[normalise(str(alias))] = name
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"CHARTVAULT_DOCUMENT_TYPES_FILE={path}: {exc}") from exc
    if UNSPECIFIED not in types:
        types[UNSPECIFIED] = DocumentType(UNSPECIFIED, "Not yet classified", "health_record")
    return DocumentTypes(types=types, aliases=aliases)
