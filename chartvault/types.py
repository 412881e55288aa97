"""Small value types shared by several domains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordBox:
    """A recognised word and its box in page-image pixels."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float
